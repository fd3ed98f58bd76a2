from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.core.errors import ModelError
from glocal.models.table_layers import Layer, read_table, write_table


def _table(entities: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "entity_id": pd.array([f"e{i:05d}" for i in range(entities)], dtype="string"),
            "value": rng.normal(size=entities),
            "n_train": rng.integers(0, 30, size=entities),
            "decision": np.where(rng.random(entities) < 0.5, "global", "local"),
            "maybe": np.where(rng.random(entities) < 0.3, np.nan, 1.0),
        }
    )


def _evolve(table: pd.DataFrame, step: int) -> pd.DataFrame:
    """Change two rows, drop one entity and add one, as a daily run would."""
    changed = table.copy()
    changed.loc[[step, step + 7], "value"] += 1.0
    changed.loc[step + 3, "decision"] = "blend"
    changed = changed.drop(index=step + 11)
    added = changed.iloc[[0]].assign(entity_id=f"new{step}")
    added["entity_id"] = added["entity_id"].astype("string")
    merged = pd.concat([changed, added], ignore_index=True)
    return merged.sort_values("entity_id", kind="stable").reset_index(drop=True)


def _save_chain(tmp_path: Path, tables: list[pd.DataFrame], **limits: float) -> list[Path]:
    roots: list[Path] = []
    layers: list[Layer] = []
    for index, table in enumerate(tables):
        root = tmp_path / f"run{index}"
        base = (roots[-1], layers) if roots else None
        layers = write_table(table, root, "banks/direct", base=base, **limits)  # type: ignore[arg-type]
        (root / "layers.json").write_text(json.dumps(layers))
        roots.append(root)
    return roots


def _layers(root: Path) -> list[Layer]:
    return list(json.loads((root / "layers.json").read_text()))


def test_every_saved_table_reads_back_exactly(tmp_path: Path) -> None:
    tables = [_table(200)]
    for step in range(5):
        tables.append(_evolve(tables[-1], step * 13))
    roots = _save_chain(tmp_path, tables)
    for root, table in zip(roots, tables, strict=True):
        pd.testing.assert_frame_equal(read_table(root, _layers(root)), table, check_exact=True)


def test_a_delta_layer_holds_only_the_changed_rows_and_links_the_base(tmp_path: Path) -> None:
    first, second = _save_chain(tmp_path, [_table(200), _evolve(_table(200), 0)])
    base, delta = _layers(second)
    assert _layers(first) == [base]
    assert delta["rows_count"] == 4  # two values, one decision, one new entity
    assert pd.read_parquet(second / delta["removed"])["entity_id"].tolist() == ["e00011"]
    assert (second / base["rows"]).samefile(first / base["rows"])  # a link, not a copy


def test_nothing_changed_adds_an_empty_layer_each_time(tmp_path: Path) -> None:
    roots = _save_chain(tmp_path, [_table(50)] * 4)  # equal empty layers share one file
    assert [layer["rows_count"] for layer in _layers(roots[-1])] == [50, 0, 0, 0]
    pd.testing.assert_frame_equal(read_table(roots[-1], _layers(roots[-1])), _table(50))


def test_the_chain_is_written_whole_when_it_is_full_or_too_much_changed(tmp_path: Path) -> None:
    tables = [_table(200)]
    for step in range(4):
        tables.append(_evolve(tables[-1], step * 13))
    roots = _save_chain(tmp_path / "short", tables, max_layers=3)
    assert [len(_layers(root)) for root in roots] == [1, 2, 3, 1, 2]
    everything = _table(200, seed=1)  # every value differs
    roots = _save_chain(tmp_path / "refit", [_table(200), everything])
    assert [layer["rows_count"] for layer in _layers(roots[1])] == [200]


def test_other_columns_or_a_damaged_base_mean_a_whole_table(tmp_path: Path) -> None:
    first, second = _save_chain(tmp_path, [_table(50), _table(50).drop(columns="maybe")])
    assert len(_layers(second)) == 1
    (first / _layers(first)[0]["rows"]).write_bytes(b"damaged")
    third = tmp_path / "third"
    layers = write_table(_table(50), third, "banks/direct", base=(first, _layers(first)))
    assert len(layers) == 1
    pd.testing.assert_frame_equal(read_table(third, layers), _table(50))


def test_a_layer_outside_the_model_is_refused(tmp_path: Path) -> None:
    (root,) = _save_chain(tmp_path, [_table(5)])
    escaping = [{"rows": "../../etc/passwd", "rows_count": 1, "removed": None}]
    with pytest.raises(ModelError, match="not a layer file"):
        read_table(root, escaping)
