from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from glocal.config import Workspace
from glocal.core.errors import ConfigError
from glocal.data import list_data_versions
from glocal.data.versions import CLEAN_FILE
from glocal.features import read_current_panel
from glocal.features.io import PANEL_FILE
from glocal.models.persistence import load_hybrid
from glocal.pipeline import PREDICTION_FILE_COLUMNS, RunSummary, run_pipeline
from glocal.pipeline.panel_marker import recorded_panel_key
from glocal.pipeline.run import STEPS
from glocal.registry import Registry, verify_bundle
from tests.pipeline.conftest import append_orders

Run = tuple[Workspace, RunSummary, Path]


def _production(workspace: Workspace) -> str | None:
    with Registry.open(None, workspace) as registry:
        return registry.alias("production")


def _bundle(workspace: Workspace, run_id: str) -> Path:
    with Registry.open(None, workspace) as registry:
        return registry.resolve_bundle(run_id)


def _manifest_pipeline(workspace: Workspace, run_id: str) -> dict[str, Any]:
    manifest = json.loads((_bundle(workspace, run_id) / "manifest.json").read_text())
    return dict(manifest["metrics"]["pipeline"])


def _customers(workspace: Workspace, count: int) -> list[str]:
    model = load_hybrid(_bundle(workspace, _production(workspace) or ""))
    decided = model.decisions_
    return sorted(decided.loc[decided["n_train"] >= 8, "entity_id"].astype(str))[:count]


def test_first_run_registers_promotes_and_predicts(first_run: Run) -> None:
    workspace, summary, _ = first_run
    assert summary.mode == "full"
    assert summary.run_id is not None
    assert _production(workspace) == summary.run_id
    verify_bundle(_bundle(workspace, summary.run_id))
    assert summary.counts["newly_seen"] == summary.counts["retrained"] > 100
    assert summary.counts["carried_forward"] == 0
    assert {s.name: s.status for s in summary.steps} == {
        **dict.fromkeys(STEPS[:-1], "ran"),
        "prune": "skipped",  # one run is far below registry.keep_bundles
    }
    predictions = pd.read_parquet(summary.predictions)
    assert tuple(predictions.columns) == PREDICTION_FILE_COLUMNS
    assert set(predictions["run_id"]) == {summary.run_id}
    assert predictions["prediction"].notna().all()
    assert summary.validation["hybrid_mse"] <= summary.validation["global_mse"]


def test_second_run_with_unchanged_data_skips_training(after_first_run: Run) -> None:
    workspace, first, data = after_first_run
    start = time.perf_counter()
    summary = run_pipeline(workspace, workspace.settings(), data=data)
    elapsed = time.perf_counter() - start
    assert summary.mode == "skip"
    assert summary.run_id is None
    status = {s.name: s.status for s in summary.steps}
    assert all(value == "skipped" for value in status.values()), status
    assert _production(workspace) == first.run_id
    assert elapsed < 3.0


def test_new_orders_retrain_only_those_entities(after_first_run: Run) -> None:
    workspace, first, data = after_first_run
    assert first.run_id is not None
    changed = _customers(workspace, 4)
    updated = append_orders(
        data, data.parent / "day2.parquet", [int(c) for c in changed], new_customers=(99001,)
    )
    before = load_hybrid(_bundle(workspace, first.run_id))

    summary = run_pipeline(workspace, workspace.settings(), data=updated)

    assert summary.mode == "incremental", summary.reason
    assert summary.counts["retrained"] == 5
    assert summary.counts["newly_seen"] == 1
    assert summary.counts["carried_forward"] == first.counts["retrained"] - 4
    assert _production(workspace) == summary.run_id
    after = load_hybrid(_bundle(workspace, summary.run_id or ""))
    for kind, bank in before.candidates_.banks_.items():
        old, new = bank.to_frame(), after.candidates_.banks_[kind].to_frame()
        kept_old = old[~old["entity_id"].isin(changed)].reset_index(drop=True)
        kept_new = new[new["entity_id"].isin(kept_old["entity_id"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept_old, kept_new, check_exact=True)
    for kind, correction in before.candidates_.corrections_.items():
        old, new = correction.to_frame(), after.candidates_.corrections_[kind].to_frame()
        kept_old = old[~old["entity_id"].isin(changed)].reset_index(drop=True)
        kept_new = new[new["entity_id"].isin(kept_old["entity_id"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept_old, kept_new, check_exact=True)
    old_decisions = before.decisions_[~before.decisions_["entity_id"].isin(changed)]
    new_decisions = after.decisions_[after.decisions_["entity_id"].isin(old_decisions["entity_id"])]
    pd.testing.assert_frame_equal(
        old_decisions.reset_index(drop=True), new_decisions.reset_index(drop=True), check_exact=True
    )
    # the global stage is carried forward: same members, same trees, same lineage id
    assert after.global_stage_.members_ == before.global_stage_.members_
    for name, learner in before.global_stage_.models_.items():
        assert after.global_stage_.models_[name].booster_.model_to_string() == (
            learner.booster_.model_to_string()
        )
    with Registry.open(None, workspace) as registry:
        rows = registry.entity_models(summary.run_id or "")
        stored = registry.run(summary.run_id or "").summary["entity_rows"]
    assert set(rows["global_version_id"]) == {f"gm-{first.run_id}"}
    retrained_rows = rows[~rows["carried_forward"]]
    assert set(retrained_rows["entity_id"]) <= {*changed, "99001"}
    # the registry stored the five retrained entities only; the others read back inherited
    assert sorted(rows["entity_id"]) == sorted(after.decisions_["entity_id"].astype(str))
    assert stored["base_run_id"] == first.run_id and stored["stored"] <= 5
    _assert_bundle_shares_its_parent(
        _bundle(workspace, first.run_id), _bundle(workspace, summary.run_id or "")
    )


def _assert_bundle_shares_its_parent(parent: Path, child: Path) -> None:
    """The child bundle links the parent's files and adds only the changed rows."""
    tables = json.loads((child / "hybrid.json").read_text())["tables"]
    assert tables.keys() >= {"banks/direct", "decisions"}
    for layers in tables.values():
        assert len(layers) == 2 and layers[1]["rows_count"] <= 5
        assert (child / layers[0]["rows"]).samefile(parent / layers[0]["rows"])
    for path in (parent / "global").rglob("*.txt"):
        assert path.samefile(child / path.relative_to(parent))


def test_retrain_global_retrains_everyone(after_first_run: Run) -> None:
    workspace, first, data = after_first_run
    summary = run_pipeline(workspace, workspace.settings(), data=data, retrain_global=True)
    assert summary.mode == "full"
    assert summary.counts["retrained"] == first.counts["retrained"]
    assert summary.counts["carried_forward"] == 0
    assert _production(workspace) == summary.run_id != first.run_id


def test_global_model_refreshed_when_data_advances_past_cadence(after_first_run: Run) -> None:
    """Due after 7 days; the last full fit is younger than 28: its learners are refitted."""
    workspace, first, data = after_first_run
    changed = _customers(workspace, 2)
    later = append_orders(
        data, data.parent / "later.parquet", [int(c) for c in changed], days_later=10
    )
    summary = run_pipeline(workspace, workspace.settings(), data=later)
    assert summary.mode == "refresh"
    assert "10 days old" in summary.reason
    assert set(summary.counts) >= {"retrained", "carried_forward"}
    assert summary.counts["carried_forward"] > 0
    old = load_hybrid(_bundle(workspace, first.run_id or "")).global_stage_
    new = load_hybrid(_bundle(workspace, summary.run_id or "")).global_stage_
    assert new.members_ == old.members_ and new.weights_ == old.weights_
    for name, model in new.models_.items():
        assert model.best_iteration_ == old.models_[name].best_iteration_
        assert model.booster_.model_to_string() != old.models_[name].booster_.model_to_string()
    record = _manifest_pipeline(workspace, summary.run_id or "")
    assert record["global"]["version_id"] == f"gm-{summary.run_id}"
    assert (
        record["global"]["selected_data_end"]
        == (_manifest_pipeline(workspace, first.run_id or "")["global"]["selected_data_end"])
    )


@pytest.mark.parametrize(("days_later", "reselect_days"), [(30, 28), (10, 0)])
def test_global_model_refitted_in_full_once_its_selection_is_old(
    after_first_run: Run, days_later: int, reselect_days: int
) -> None:
    workspace, _, data = after_first_run
    changed = _customers(workspace, 2)
    later = append_orders(
        data, data.parent / "later.parquet", [int(c) for c in changed], days_later=days_later
    )
    settings = workspace.settings()
    pipeline = settings.pipeline.model_copy(update={"global_reselect_days": reselect_days})
    summary = run_pipeline(
        workspace, settings.model_copy(update={"pipeline": pipeline}), data=later
    )
    assert summary.mode == "full"
    assert "full fit" in summary.reason
    assert summary.counts["carried_forward"] == 0


def test_missing_data_file_leaves_production_unchanged(after_first_run: Run) -> None:
    from glocal.core.errors import DataFileError

    workspace, first, _ = after_first_run
    with pytest.raises(DataFileError, match="does not exist"):
        run_pipeline(workspace, workspace.settings(), data=workspace.root / "nope.csv")
    assert _production(workspace) == first.run_id


@pytest.mark.parametrize("broken", [CLEAN_FILE, PANEL_FILE])
def test_files_written_on_a_thread_that_fail_fail_the_run_before_it_publishes(
    after_first_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    # the data version is written while the panel is built, and the panel while the
    # models train: a failure of either must fail the run before the panel is recorded
    # (for the version) or any model moves (for both)
    workspace, first, data = after_first_run
    updated = append_orders(data, tmp_path / "day2.parquet", [], new_customers=(99002,))
    panel_before = read_current_panel(workspace)
    write_table = pq.write_table

    def broken_writer(table: Any, target: Any, **kwargs: Any) -> None:
        if isinstance(target, (str, Path)) and broken in Path(target).name:  # or its temp
            raise OSError("disk full")
        write_table(table, target, **kwargs)

    monkeypatch.setattr(pq, "write_table", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        run_pipeline(workspace, workspace.settings(), data=updated)
    monkeypatch.undo()

    assert _production(workspace) == first.run_id
    with Registry.open(None, workspace) as registry:
        assert list(registry.list_runs()["run_id"]) == [first.run_id]
    assert read_current_panel(workspace) == panel_before
    stored = [v.version for v in list_data_versions(workspace)]
    if broken == CLEAN_FILE:
        assert stored == [first.data_version]
        processed = workspace.root / "data" / "processed"
        assert sorted(p.name for p in processed.iterdir() if p.is_dir()) == [first.data_version]
    else:
        assert len(stored) == 2
        assert not (workspace.processed_dir(stored[-1]) / PANEL_FILE).exists()
        assert recorded_panel_key(workspace, stored[-1]) is None
    again = run_pipeline(workspace, workspace.settings(), data=updated)
    assert again.mode == "incremental", again.reason
    assert again.counts["newly_seen"] == 1
    assert _production(workspace) == again.run_id


def test_old_bundles_are_pruned_but_production_and_rollback_target_stay(
    after_first_run: Run,
) -> None:
    workspace, first, data = after_first_run
    settings = workspace.settings()
    settings = settings.model_copy(
        update={"registry": settings.registry.model_copy(update={"keep_bundles": 1})}
    )
    second = run_pipeline(workspace, settings, data=data, retrain_global=True)
    third = run_pipeline(workspace, settings, data=data, retrain_global=True)
    bundles = sorted(p.name for p in (workspace.models_dir / "bundles").iterdir())
    assert bundles == sorted([second.run_id, third.run_id])  # newest + rollback target
    states = sorted(p.name for p in (workspace.models_dir / "pipeline").iterdir())
    assert states == bundles
    prune = {step.name: step for step in third.steps}["prune"]
    assert prune.status == "ran" and "deleted 1 bundle" in prune.detail
    with Registry.open(None, workspace) as registry:
        runs = registry.list_runs().set_index("run_id")
        assert runs.loc[first.run_id, "status"] == "pruned"
        assert registry.rollback() == second.run_id
    assert verify_bundle(_bundle(workspace, second.run_id))


def test_run_reuses_the_panel_glocal_features_built(tmp_path: Path) -> None:
    from glocal.cli.main import main
    from tests.pipeline.conftest import write_demo

    root = tmp_path / "ws"
    data = write_demo(tmp_path / "day1.parquet", n_customers=60)
    assert main(["init", str(root)]) == 0
    assert main(["ingest", str(data), "-w", str(root)]) == 0
    assert main(["features", "-w", str(root)]) == 0
    workspace = Workspace(root)
    summary = run_pipeline(workspace, workspace.settings())
    steps = {step.name: step for step in summary.steps}
    assert steps["features"].status == "skipped", steps["features"].detail
    assert steps["train"].status == "ran"


def test_stop_after_register_registers_without_moving_production(after_first_run: Run) -> None:
    workspace, first, _ = after_first_run
    summary = run_pipeline(
        workspace, workspace.settings(), retrain_global=True, stop_after="register"
    )
    assert summary.run_id is not None and summary.run_id != first.run_id
    assert _production(workspace) == first.run_id  # registered, not promoted
    verify_bundle(_bundle(workspace, summary.run_id))
    statuses = {s.name: s.status for s in summary.steps}
    assert statuses["register"] == "ran"
    assert {statuses[name] for name in ("promote", "predict", "prune")} == {"skipped"}
    assert summary.predictions is None


def test_stop_after_names_the_steps_when_it_is_not_one(after_first_run: Run) -> None:
    workspace, _, _ = after_first_run
    with pytest.raises(ConfigError, match="promote"):
        run_pipeline(workspace, workspace.settings(), stop_after="publish")


@pytest.mark.parametrize("stop_after", ["ingest", "features", "train"])
def test_stop_after_records_every_later_step_once_as_skipped(
    after_first_run: Run, stop_after: str
) -> None:
    workspace, first, _ = after_first_run
    summary = run_pipeline(
        workspace, workspace.settings(), retrain_global=True, stop_after=stop_after
    )
    assert [s.name for s in summary.steps] == list(STEPS)
    later = STEPS[STEPS.index(stop_after) + 1 :]
    assert all(s.status == "skipped" for s in summary.steps if s.name in later)
    assert summary.run_id is None and _production(workspace) == first.run_id
