"""Runs store only the entities that changed; every run's full state reads back exactly."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

import glocal.registry.deltas as deltas
from glocal.registry import GlobalVersion, Registry
from glocal.registry.schema import entity_models as entity_table
from tests.registry.conftest import T0, run_record

VERSION = GlobalVersion("gm-1", "a", T0, "v1", 40, False)


def _rows(
    ids: list[str], days: int, carried: bool = False, decision: str = "global"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": ids,
            "decision": decision,
            "candidate": "direct",
            "weight": 0.0,
            "reason": "NOT_SIGNIFICANT",
            "n_train": 20,
            "n_val": 4,
            "val_mse_global": 1.5,
            "val_mse_local": float("nan"),
            "trained_at": pd.Timestamp(T0 + dt.timedelta(days=days)),
            "global_version_id": "gm-1",
            "carried_forward": carried,
        }
    )


def _stored(registry: Registry, run_id: str) -> int:
    with registry._read() as connection:
        query = select(func.count()).select_from(entity_table)
        return int(connection.execute(query.where(entity_table.c.run_id == run_id)).scalar())


def _same_state(registry: Registry, run_id: str, frame: pd.DataFrame) -> None:
    read = registry.entity_models(run_id).drop(columns="run_id")
    for column in ("weight", "val_mse_global", "val_mse_local"):
        read[column] = pd.to_numeric(read[column]).astype(float)
    expected = frame.sort_values("entity_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        read.reset_index(drop=True), expected, check_dtype=False, check_like=True
    )


def _second_run(first: pd.DataFrame) -> pd.DataFrame:
    """e1 retrained, e2's decision changed without retraining, e3 removed, e6 new."""
    kept = first.loc[first["entity_id"].isin(["e2", "e4", "e5"])].assign(carried_forward=True)
    kept.loc[kept["entity_id"] == "e2", ["decision", "reason"]] = ["global", "DEMOTED"]
    kept.loc[kept["entity_id"] == "e2", "weight"] = 0.0
    fresh = _rows(["e1", "e6"], days=1, decision="local").assign(weight=1.0)
    return pd.concat([kept, fresh], ignore_index=True)


def test_a_run_stores_only_what_changed_and_reads_back_whole(registry: Registry) -> None:
    first = _rows(["e1", "e2", "e3", "e4", "e5"], days=0, decision="local").assign(weight=1.0)
    registry.record_run(run_record("a", 0), VERSION, first)
    second = _second_run(first)
    registry.record_run(run_record("b", 1, parent="a"), VERSION, second)
    # e1, e2, e6 and a tombstone for e3; e4 and e5 are inherited from run a
    assert _stored(registry, "a") == 5 and _stored(registry, "b") == 4
    info = registry.run("b").summary
    assert info["entity_rows"] == {"base_run_id": "a", "stored": 4, "depth": 1}
    assert info["entities"] == 5 and registry.run("a").summary["entity_rows"]["base_run_id"] is None
    _same_state(registry, "a", first)
    _same_state(registry, "b", second)
    # a third run in which nothing changed stores nothing and still reads back whole
    third = second.assign(carried_forward=True)
    registry.record_run(run_record("c", 2, parent="b"), VERSION, third)
    assert _stored(registry, "c") == 0
    _same_state(registry, "c", third)
    registry.promote("c", verify=False)
    card = registry.model_card("e4")
    assert card["current"]["run_id"] == "c" and card["current"]["carried_forward"]
    assert [h["run_id"] for h in card["history"]] == ["a"]  # the only run that changed it
    assert registry.model_card("e1")["current"]["decision"] == "local"
    assert registry.model_card("e3")["current"] is None  # removed in run b


def test_a_run_where_every_entity_changed_stores_them_all_without_a_base(
    registry: Registry,
) -> None:
    first = _rows(["e1", "e2"], days=0)
    registry.record_run(run_record("a", 0), VERSION, first)
    registry.record_run(run_record("b", 1, parent="a"), VERSION, _rows(["e1", "e2"], days=1))
    assert _stored(registry, "b") == 2
    assert registry.run("b").summary["entity_rows"]["base_run_id"] is None


def test_the_chain_is_capped_by_a_run_that_stores_everything(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deltas, "MAX_CHAIN", 3)
    monkeypatch.setattr("glocal.registry.registry.MAX_CHAIN", 3)
    frame = _rows(["e1", "e2", "e3"], days=0)
    registry.record_run(
        run_record("r0", 0), GlobalVersion("gm-1", "r0", T0, "v1", 40, False), frame
    )
    parent = "r0"
    depths = []
    for day in range(1, 6):
        changed = pd.concat(
            [
                frame.loc[frame["entity_id"] != "e1"].assign(carried_forward=True),
                _rows(["e1"], days=day),
            ],
            ignore_index=True,
        )
        registry.record_run(run_record(f"r{day}", day, parent=parent), VERSION, changed)
        depths.append(registry.run(f"r{day}").summary["entity_rows"]["depth"])
        _same_state(registry, f"r{day}", changed)
        frame, parent = changed, f"r{day}"
    assert depths == [1, 2, 0, 1, 2]
