"""``glocal monitor``: live error against actuals, demotions, drift and data checks, a report.

One call (:func:`run_monitor`):

1. reads every prediction glocal served (:mod:`~glocal.monitoring.served`) and the
   current panel, whose known targets are the realized actuals;
2. computes the realized error of the served and of the shadow global prediction, per
   entity over the window and per cutoff (:mod:`~glocal.monitoring.live_error`);
3. tests every entity a local model served and records the significant losers as
   demotions in the registry (:mod:`~glocal.monitoring.demotion`); the next ``glocal run``
   keeps them global;
4. checks feature and target drift against the production bundle's training baseline,
   the share of unknown entities and the age of the data (:mod:`~glocal.monitoring.checks`);
5. writes ``evaluation/monitor/<date>/``: ``monitor.json``, ``entities.parquet``,
   ``series.parquet`` and ``report.html``, published as one directory.

The date is the clock's (:mod:`glocal.core.clock`): today, or the replayed day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core import clock
from glocal.core.atomic import atomic_directory, write_json_atomic
from glocal.core.errors import WorkspaceError
from glocal.data import latest_data_version
from glocal.features import CurrentPanel, read_current_panel, read_panel
from glocal.monitoring.checks import (
    Alert,
    data_age,
    data_alerts,
    drift_report,
    error_alerts,
)
from glocal.monitoring.demotion import judge_demotions
from glocal.monitoring.live_error import LiveErrors, error_summary, live_errors
from glocal.monitoring.plots import (
    plot_entity_error_distribution,
    plot_error_over_time,
    plot_local_win_rate,
    plot_psi,
)
from glocal.monitoring.report import write_monitor_report
from glocal.monitoring.served import ServedPredictions, read_served
from glocal.registry import Registry, read_drift_baseline, verify_bundle

__all__ = ["MonitorResult", "monitor_directory", "run_monitor"]


@dataclass(frozen=True)
class MonitorResult:
    """What one monitoring pass found and where it wrote it."""

    directory: Path
    summary: dict[str, Any]
    entities: pd.DataFrame
    series: pd.DataFrame
    alerts: list[Alert]

    @property
    def demoted(self) -> int:
        """Entities demoted by this pass."""
        return int(self.summary["demoted"])


def monitor_directory(workspace: Workspace, day: dt.date) -> Path:
    """Return ``evaluation/monitor/<day>/``."""
    return workspace.root / "evaluation" / "monitor" / day.isoformat()


@dataclass(frozen=True)
class _Production:
    run_id: str
    known: pd.Index
    validation_loss: pd.Series
    baseline: dict[str, Any] | None


def _production(registry: Registry) -> _Production:
    run_id = registry.alias("production")
    if run_id is None:
        raise WorkspaceError(
            "there is no production run to monitor yet: run `glocal run` first, and monitor "
            "once its predictions' horizon has passed."
        )
    bundle = registry.resolve_bundle(run_id)
    verify_bundle(bundle)
    rows = registry.entity_models(run_id)
    local = rows["decision"].astype(str) != "global"
    validation = rows["val_mse_local"].where(local, rows["val_mse_global"])
    return _Production(
        run_id,
        pd.Index(rows["entity_id"].astype(str)),
        pd.Series(validation.to_numpy(dtype=np.float64), index=rows["entity_id"].astype(str)),
        read_drift_baseline(bundle),
    )


def _data_end(workspace: Workspace, current: CurrentPanel) -> dt.date:
    """Return the day after the newest transaction the current panel used."""
    version = latest_data_version(workspace)
    end = version.date_max.date() + dt.timedelta(days=1)
    if current.as_of:
        end = min(end, dt.date.fromisoformat(current.as_of))
    return end


def _window_summary(live: LiveErrors) -> dict[str, Any]:
    if live.window_start is None or live.window_end is None:
        return {"start": None, "end": None, "rows": 0, "entities": 0}
    window = live.rows.loc[live.rows["cutoff"] >= live.window_start]
    return {
        "start": live.window_start.date().isoformat(),
        "end": live.window_end.date().isoformat(),
        "rows": len(window),
        "entities": int(window["entity_id"].nunique()),
        **error_summary(window),
    }


def _data_checks(
    served: ServedPredictions,
    snapshot: pd.DataFrame,
    production: _Production,
    day: dt.date,
    data_end: dt.date,
) -> dict[str, Any]:
    ids = snapshot["entity_id"].astype(str)
    return {
        "monitor_date": day.isoformat(),
        "data_end": data_end.isoformat(),
        "data_age_days": data_age(day, data_end),
        "snapshot_entities": len(snapshot),
        "unknown_share_snapshot": float((~ids.isin(production.known)).mean()) if len(ids) else 0.0,
        "online_requests": served.online_requests,
        "online_with_features": served.online_with_features,
        "unknown_share_online": served.online_unknown / served.online_requests
        if served.online_requests
        else None,
    }


def _demotions(entities: pd.DataFrame, production: _Production, settings: Settings) -> pd.DataFrame:
    chosen = entities.loc[entities["demote"]]
    now = clock.now()
    return pd.DataFrame(
        {
            "entity_id": chosen["entity_id"].astype(str).to_numpy(),
            "demoted_at": now,
            "until": now + dt.timedelta(days=settings.monitoring.demotion_days),
            "run_id": production.run_id,
            "served_loss": chosen["served_loss"].to_numpy(dtype=np.float64),
            "global_loss": chosen["global_loss"].to_numpy(dtype=np.float64),
            "periods": chosen["local_periods"].to_numpy(dtype=np.int64),
            "p_value": chosen["p_value"].to_numpy(dtype=np.float64),
        }
    )


def _plots(
    directory: Path,
    live: LiveErrors,
    entities: pd.DataFrame,
    production: _Production,
    drift: dict[str, Any],
    settings: Settings,
) -> dict[str, Path]:
    plots: dict[str, Path] = {}
    objective = settings.objective
    if len(live.series):
        plots["error_over_time"] = directory / "error_over_time.png"
        plot_error_over_time(live.series, objective, plots["error_over_time"])
        plots["entity_error"] = directory / "entity_error.png"
        validation = production.validation_loss.reindex(entities["entity_id"])
        plot_entity_error_distribution(
            entities["served_loss"], validation, objective, plots["entity_error"]
        )
        if (live.series["local_rows"] > 0).any():
            plots["local_win_rate"] = directory / "local_win_rate.png"
            plot_local_win_rate(live.series, plots["local_win_rate"])
    if drift["features"]:
        plots["psi"] = directory / "psi.png"
        plot_psi(drift["features"], settings.monitoring.psi_alert, plots["psi"])
    return plots


def run_monitor(
    workspace: Workspace, settings: Settings, *, record: bool = True, report: bool = True
) -> MonitorResult:
    """Monitor the production run as of the clock's date; see the module docstring.

    Args:
        workspace: The workspace (with a production run and a current panel).
        settings: Its settings (``monitoring.*``, ``objective``, the horizon).
        record: Record the demotions in the registry (``False``: report them only).
        report: Draw the plots and write ``report.html`` (``False``: the JSON and the
            Parquet files only, as a backtest does for every date but its last).

    Raises:
        WorkspaceError: No production run or no panel yet.
        BundleError: The production bundle fails its checksums.

    """
    day = clock.now().date()
    monitoring = settings.monitoring
    current = read_current_panel(workspace)
    panel = read_panel(current.files.panel)
    snapshot = read_panel(current.files.latest)
    with Registry.open(settings.registry.url, workspace) as registry:
        production = _production(registry)
        active = pd.Index(registry.active_demotions(clock.now())["entity_id"])
    # the window, and before it one horizon and one cutoff spacing of predictions that
    # may have just been realized: older files are not read
    lookback = monitoring.window_days + settings.features.horizon_days
    lookback += settings.features.cutoff_every_days
    served = read_served(workspace, since=day - dt.timedelta(days=lookback))
    live = live_errors(served.frame, panel, settings.objective, monitoring.window_days)
    entities = judge_demotions(
        live.entities,
        monitoring,
        settings.features.cutoff_every_days,
        settings.features.horizon_days,
        settings.objective,
    )
    entities["already_demoted"] = entities["entity_id"].isin(active)
    entities["demote"] = entities["demote"] & ~entities["already_demoted"]
    drift, drift_alerts = drift_report(production.baseline, snapshot, live.rows, monitoring)
    checks = _data_checks(served, snapshot, production, day, _data_end(workspace, current))
    alerts = [
        *error_alerts(live.series, live.window_start, monitoring, settings.objective),
        *drift_alerts,
        *data_alerts(checks, monitoring),
    ]
    demotions = _demotions(entities, production, settings)
    if record and len(demotions):
        with Registry.open(settings.registry.url, workspace) as registry:
            registry.record_demotions(demotions)
    summary: dict[str, Any] = {
        "monitor_date": day.isoformat(),
        "objective": settings.objective,
        "production_run_id": production.run_id,
        "window": _window_summary(live),
        "demoted": len(demotions),
        "demotions_recorded": bool(record),
        "already_demoted": int(entities["already_demoted"].sum()),
        "tested_for_demotion": int(entities["tested"].sum()),
        "drift": drift,
        "data_checks": checks,
        "alerts": [alert.to_dict() for alert in alerts],
        "settings": monitoring.model_dump(mode="json"),
    }
    target = monitor_directory(workspace, day)
    with atomic_directory(target, replace=True) as directory:
        entities.to_parquet(directory / "entities.parquet", index=False)
        live.series.to_parquet(directory / "series.parquet", index=False)
        if report:
            plots = _plots(directory, live, entities, production, drift, settings)
            write_monitor_report(summary, entities, plots, directory / "report.html")
            for path in plots.values():
                path.unlink()  # embedded in the report
        write_json_atomic(directory / "monitor.json", summary)
    return MonitorResult(target, summary, entities, live.series, alerts)
