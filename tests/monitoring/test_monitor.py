"""`run_monitor` end to end on two replayed runs of demo data."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.core import clock
from glocal.core.errors import WorkspaceError
from glocal.monitoring import MonitorResult, monitor_directory, run_monitor
from glocal.pipeline import run_pipeline
from glocal.registry import Registry
from tests.monitoring.conftest import FIRST, SECOND, Replay


def _monitor(replay: Replay, day: dt.date = SECOND, **overrides: object) -> MonitorResult:
    workspace = replay[0]
    settings = workspace.settings()
    if overrides:
        settings = settings.model_copy(
            update={"monitoring": settings.monitoring.model_copy(update=overrides)}
        )
    with clock.frozen_at(clock.as_of_moment(day)):
        return run_monitor(workspace, settings)


def test_every_entity_scored_at_the_first_date_has_its_realized_error(replay: Replay) -> None:
    workspace, first, _ = replay
    result = _monitor(replay)
    assert first.predictions is not None
    scored = pd.read_parquet(first.predictions)
    entities = pd.read_parquet(result.directory / "entities.parquet")
    assert result.directory == monitor_directory(workspace, SECOND)
    assert set(scored["entity_id"]) <= set(entities["entity_id"])
    for forecast in ("served", "global", "naive", "btyd"):  # the baselines on the same rows
        assert np.isfinite(entities[f"mse_{forecast}"]).all()
        assert np.isfinite(entities[f"mae_{forecast}"]).all()
    # the errors are those of the first run's predictions against the panel's targets
    row = scored.iloc[0]
    mine = entities.set_index("entity_id").loc[row["entity_id"]]
    assert mine["first_cutoff"] == row["cutoff"]
    summary = json.loads((result.directory / "monitor.json").read_text())
    assert summary["window"]["end"] == row["cutoff"].date().isoformat()
    assert summary["production_run_id"] == replay[2].run_id


def test_the_report_is_self_contained_with_every_plot(replay: Replay) -> None:
    result = _monitor(replay)
    page = (result.directory / "report.html").read_text()
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(images) >= 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "Worst decile" in page and "Alerts" in page
    assert sorted(p.name for p in result.directory.iterdir()) == [
        "entities.parquet",
        "monitor.json",
        "report.html",
        "series.parquet",
    ]


def test_thresholds_come_from_the_settings(replay: Replay) -> None:
    quiet = _monitor(
        replay,
        psi_alert=1e9,
        max_data_age_days=10_000,
        served_worse_tolerance=1e9,
        unknown_share_alert=1.0,
    )
    assert quiet.alerts == []
    loud = _monitor(replay, psi_alert=1e-9)
    assert {a.name for a in loud.alerts} >= {"feature_drift"}
    late = _monitor(replay, day=SECOND.replace(month=12), psi_alert=1e9)
    assert [a.name for a in late.alerts if a.name == "data_late"] == ["data_late"]


def test_excluded_features_are_reported_but_never_alert(replay: Replay) -> None:
    every = _monitor(replay, psi_alert=1e-9, drift_alert_exclude=[])
    alerted = {a.message.split("'")[1] for a in every.alerts if a.name == "feature_drift"}
    assert "tenure_days" in alerted
    default = _monitor(replay, psi_alert=1e-9)
    quiet = {a.message.split("'")[1] for a in default.alerts if a.name == "feature_drift"}
    assert quiet == alerted - {"tenure_days"}
    assert "tenure_days" in default.summary["drift"]["features"]


def test_a_misspelt_excluded_feature_is_named_in_a_warning(
    replay: Replay, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        _monitor(replay, drift_alert_exclude=["tenure_dayz"])
    assert "tenure_dayz" in caplog.text and "drift_alert_exclude" in caplog.text


def test_a_rerun_replaces_the_day_s_outputs_whole(replay: Replay) -> None:
    first = _monitor(replay, psi_alert=1e-9)
    second = _monitor(replay, psi_alert=1e9)
    assert first.directory == second.directory
    saved = json.loads((second.directory / "monitor.json").read_text())
    assert saved["settings"]["psi_alert"] == 1e9
    assert not [p for p in second.directory.parent.iterdir() if p.name.startswith(".")]


def test_demotions_are_recorded_and_honoured_by_the_next_run(replay: Replay) -> None:
    workspace, _, second = replay
    settings = workspace.settings()
    with Registry.open(None, workspace) as registry:
        entity = str(registry.entity_models(second.run_id or "")["entity_id"].iloc[0])
        registry.record_demotions(
            pd.DataFrame(
                {
                    "entity_id": [entity],
                    "demoted_at": [pd.Timestamp(clock.as_of_moment(SECOND))],
                    "until": [pd.Timestamp(clock.as_of_moment(SECOND)) + pd.Timedelta(days=91)],
                    "run_id": [second.run_id],
                    "served_loss": [2.0],
                    "global_loss": [1.0],
                    "periods": [3],
                    "p_value": [0.01],
                }
            )
        )
    third = run_pipeline(workspace, settings, as_of=SECOND.replace(day=17), retrain_global=True)
    with Registry.open(None, workspace) as registry:
        rows = registry.entity_models(third.run_id or "").set_index("entity_id")
        assert registry.active_demotions(clock.as_of_moment(SECOND.replace(day=17)))[
            "entity_id"
        ].tolist() == [entity]
        assert registry.active_demotions(clock.as_of_moment(SECOND.replace(year=2012))).empty
    assert rows.loc[entity, "decision"] == "global"
    assert rows.loc[entity, "reason"] == "DEMOTED"
    assert third.counts["demoted"] == 1


def test_no_production_run_is_a_clear_error(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "empty")
    workspace.init()
    with pytest.raises(WorkspaceError, match=r"panel|production"):
        run_monitor(workspace, workspace.settings())


def test_predictions_made_before_their_horizon_passed_are_not_scored(replay: Replay) -> None:
    result = _monitor(replay, day=FIRST)  # nothing of the second run is realized
    assert result.summary["window"]["end"] <= FIRST.isoformat()


def test_old_files_are_not_opened_and_a_damaged_recent_one_is_named(replay: Replay) -> None:
    from glocal.core.errors import DataFileError

    daily = replay[0].predictions_dir / "daily"
    (daily / "2001-01-01.parquet").write_text("not parquet")  # long before the window
    assert _monitor(replay).summary["window"]["rows"] > 0
    damaged = daily / f"{SECOND}.parquet"
    damaged.write_text("not parquet")
    with pytest.raises(DataFileError, match=rf"{SECOND}\.parquet.*glocal predict"):
        _monitor(replay)
