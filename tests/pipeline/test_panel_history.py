"""The features step of a run on new data rebuilds only the changed entities' history."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Settings, Workspace
from glocal.data import latest_data_version, load_clean_transactions
from glocal.data.digests import DIGESTS_FILE
from glocal.features import build_panel_and_latest, read_current_panel, read_panel
from glocal.features.entity_history import history_path
from glocal.pipeline import RunSummary, run_pipeline
from glocal.pipeline.panel_history import previous_history
from glocal.pipeline.panel_marker import recorded_panel_key
from glocal.pipeline.steps import panel_step
from tests.pipeline.conftest import append_orders

Run = tuple[Workspace, RunSummary, Path]


def _features_detail(summary: RunSummary) -> str:
    return {step.name: step for step in summary.steps}["features"].detail


def _assert_panel_is_a_full_build(workspace: Workspace) -> None:
    current = read_current_panel(workspace)
    transactions = load_clean_transactions(workspace, current.data_version)
    panel, latest = build_panel_and_latest(transactions, workspace.settings().features)
    pd.testing.assert_frame_equal(read_panel(current.files.panel), panel, check_exact=True)
    pd.testing.assert_frame_equal(read_panel(current.files.latest), latest, check_exact=True)


def test_new_orders_days_later_rebuild_only_their_entities(after_first_run: Run) -> None:
    workspace, _, data = after_first_run
    customers = sorted(load_clean_transactions(workspace)["entity_id"].unique())[:3]
    updated = append_orders(
        data,
        data.parent / "later.parquet",
        [int(c) for c in customers],
        new_customers=(99002,),
        days_later=9,  # the data ends later: new cutoffs and targets for every entity
    )

    summary = run_pipeline(workspace, workspace.settings(), data=updated)

    assert "the history of 4 rebuilt" in _features_detail(summary)
    version = latest_data_version(workspace).version
    assert (workspace.processed_dir(version) / DIGESTS_FILE).is_file()
    assert history_path(workspace.processed_dir(version), workspace.settings().features).is_file()
    _assert_panel_is_a_full_build(workspace)


@pytest.mark.parametrize("spoil", ["missing", "damaged"])
def test_without_a_readable_kept_history_the_panel_is_built_in_full(
    after_first_run: Run, spoil: str
) -> None:
    workspace, _, data = after_first_run
    current = read_current_panel(workspace)
    directory = workspace.processed_dir(current.data_version)
    kept = history_path(directory, workspace.settings().features)
    if spoil == "missing":
        kept.unlink()
    else:
        kept.write_bytes(b"damaged")
    customers = sorted(load_clean_transactions(workspace)["entity_id"].unique())[:2]
    updated = append_orders(data, data.parent / "more.parquet", [int(c) for c in customers])

    summary = run_pipeline(workspace, workspace.settings(), data=updated)

    assert "rebuilt" not in _features_detail(summary)
    _assert_panel_is_a_full_build(workspace)


def test_other_feature_settings_never_read_the_kept_history(after_first_run: Run) -> None:
    workspace, _, _ = after_first_run
    settings = workspace.settings()
    version = latest_data_version(workspace)
    assert previous_history(workspace, settings, version) is not None
    wider = settings.model_copy(
        update={"features": settings.features.model_copy(update={"detail_window_days": 60})}
    )
    assert previous_history(workspace, wider, version) is None


def _other_horizon(workspace: Workspace) -> Settings:
    settings = workspace.settings()
    features = settings.features.model_copy(update={"horizon_days": 14})
    return settings.model_copy(update={"features": features})


def test_a_panel_built_with_other_settings_is_never_copied(after_first_run: Run) -> None:
    """The same version's panel rebuilt with another horizon has the same rows: only its
    record tells it apart, and then only the kept history (of these settings) is used."""
    workspace, _, data = after_first_run
    version = latest_data_version(workspace)
    panel_step(workspace, _other_horizon(workspace), version)
    customers = sorted(load_clean_transactions(workspace)["entity_id"].unique())[:2]
    updated = append_orders(data, data.parent / "after.parquet", [int(c) for c in customers])

    summary = run_pipeline(workspace, workspace.settings(), data=updated)

    assert "the history of 2 rebuilt" in _features_detail(summary)
    _assert_panel_is_a_full_build(workspace)


def test_a_failed_panel_write_leaves_no_record_of_its_settings(
    after_first_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, _, _ = after_first_run
    version = latest_data_version(workspace)
    assert recorded_panel_key(workspace, version.version) is not None

    def killed(*args: object, **kwargs: object) -> None:  # failure injection
        raise OSError("disk full")

    monkeypatch.setattr("glocal.pipeline.steps.write_panel_tables", killed)
    built = panel_step(workspace, _other_horizon(workspace), version)  # written on a thread
    with pytest.raises(OSError, match="disk full"):
        built.wait_written()
    assert recorded_panel_key(workspace, version.version) is None
