from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import GlobalModelSettings, LocalModelSettings
from glocal.core.errors import ModelError
from glocal.models import HybridModel
from glocal.models.persistence import HYBRID_FORMAT_VERSION, load_hybrid, save_hybrid
from tests.models.conftest import history_test, synthetic_hybrid


@pytest.mark.parametrize("which", ["fitted_hybrid", "mixed_hybrid"])
def test_round_trip_predicts_exactly_the_same(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model, test = request.getfixturevalue(which)
    restored = load_hybrid(save_hybrid(model, tmp_path / "model"))
    pd.testing.assert_frame_equal(restored.predict(test), model.predict(test), check_exact=True)
    pd.testing.assert_frame_equal(restored.decisions_, model.decisions_, check_exact=True)
    assert restored.feature_columns_ == model.feature_columns_
    assert restored.global_uses_entity_ == model.global_uses_entity_
    assert restored.global_stage_.members_ == model.global_stage_.members_
    assert restored.folds_ == model.folds_
    assert restored.guard_level_ == model.guard_level_ and restored.lags_ == model.lags_
    assert restored.objective == model.objective


def test_saved_files_are_text_parquet_and_json_only(
    mixed_hybrid: tuple[HybridModel, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = mixed_hybrid
    directory = save_hybrid(model, tmp_path / "model")
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    assert {Path(f).suffix for f in files} == {".txt", ".json", ".parquet"}
    entity_ids = set(model.decisions_["entity_id"].astype(str))
    assert not any(Path(f).stem in entity_ids for f in files)  # ids are data, not names
    meta = json.loads((directory / "hybrid.json").read_text())
    assert meta["format_version"] == HYBRID_FORMAT_VERSION
    (bank_layer,) = meta["tables"]["banks/direct"]
    assert set(pd.read_parquet(directory / bank_layer["rows"])["entity_id"]) <= entity_ids


def test_refuses_unfitted_model_and_non_empty_directory(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="not fitted"):
        save_hybrid(HybridModel(), tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "other.txt").write_text("x")
    with pytest.raises(ModelError, match="not empty"):
        save_hybrid(fitted_hybrid[0], tmp_path / "b")


def test_load_names_missing_older_or_newer_files(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"hybrid\.json is missing"):
        load_hybrid(tmp_path)
    directory = save_hybrid(fitted_hybrid[0], tmp_path / "model")
    meta = json.loads((directory / "hybrid.json").read_text())
    meta["format_version"] = HYBRID_FORMAT_VERSION + 1
    (directory / "hybrid.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="Upgrade glocal"):
        load_hybrid(directory)
    meta["format_version"] = 1
    (directory / "hybrid.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"version 1 hybrid model.*Retrain"):
        load_hybrid(directory)
    meta["format_version"] = HYBRID_FORMAT_VERSION
    (directory / "hybrid.json").write_text(json.dumps(meta))
    (directory / "global" / "stage.json").unlink()
    with pytest.raises(ModelError, match="cannot load the global stage"):
        load_hybrid(directory)


def test_candidate_subset_round_trips(small_panel: pd.DataFrame, tmp_path: Path) -> None:
    history, test = history_test(small_panel)
    model = synthetic_hybrid(
        global_model=GlobalModelSettings(params={"n_estimators": 30}),
        local_models=LocalModelSettings(candidates=["level"], blend=False),
        seed=1,
    ).fit(history)
    restored = load_hybrid(save_hybrid(model, tmp_path / "m"))
    pd.testing.assert_frame_equal(restored.predict(test), model.predict(test), check_exact=True)


def _reference_predict(model: HybridModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The per-row implementation HybridModel.predict had before it was vectorized."""
    g = model.global_stage_.predict(frame)
    decisions = model.decisions_.set_index("entity_id")
    position = decisions.index.get_indexer(pd.Index(frame["entity_id"]))
    known = position >= 0
    row_name = np.full(len(frame), None, dtype=object)
    row_name[known] = decisions["candidate"].to_numpy(dtype=object)[position[known]]
    kind_of = np.array([n.split("+")[0] if isinstance(n, str) else "" for n in row_name])
    local = np.full(len(frame), np.nan)
    kinds = sorted(set(kind_of) - {""})
    for kind, prediction in model.candidates_.predict(frame, g, kinds).items():  # type: ignore[arg-type]
        local[kind_of == kind] = prediction[kind_of == kind]
    source = np.full(len(frame), "global", dtype=object)
    source[known] = decisions["decision"].to_numpy(dtype=object)[position[known]]
    weight = np.zeros(len(frame))
    weight[known] = decisions["weight"].to_numpy(dtype=np.float64)[position[known]]
    source[~np.isfinite(local)] = "global"
    prediction = np.where(source == "local", local, g)
    blend = source == "blend"
    prediction[blend] = g[blend] + weight[blend] * (local[blend] - g[blend])
    return pd.DataFrame(
        {
            "entity_id": frame["entity_id"].to_numpy(),
            "prediction": prediction,
            "source": pd.array(source, dtype="str"),
            "global_prediction": g,
            "local_prediction": local,
        },
        index=frame.index,
    )


def test_vectorized_predict_matches_the_per_row_reference(
    mixed_hybrid: tuple[HybridModel, pd.DataFrame],
) -> None:
    model, test = mixed_hybrid
    frame = test.copy()
    frame.loc[frame.index[:3], "entity_id"] = "UNSEEN"  # unknown entities stay global
    shuffled = frame.sample(frac=1.0, random_state=0)
    as_objects = frame.astype({"entity_id": object})  # the pandas (non-Arrow) lookup path
    for batch in (test, frame, shuffled, as_objects):
        pd.testing.assert_frame_equal(
            model.predict(batch), _reference_predict(model, batch), check_exact=True
        )
    assert set(model.predict(test)["source"]) >= {"global", "local"}
