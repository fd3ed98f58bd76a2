"""``glocal backtest``: replay the production routine over history, period by period.

For every replayed date ``d`` (``start``, ``start + every``, ... up to ``end``) it runs the
very code of a day in production, with the clock set to ``d``:
``run_pipeline(..., as_of=d)`` (global model when due, incremental local retraining and
selection, demotions honoured, batch predictions), then :func:`run_monitor` (predictions
whose horizon has passed against their actuals, new demotions). Nothing is reimplemented.
Every date's monitor writes its JSON and Parquet files; only the last one draws its HTML
report (the backtest's own report holds the time series of every date).

The replay happens in a scratch workspace of its own, with its own SQLite registry, inside
the output directory, so it never touches the user's registry or production alias. The
output, ``evaluation/backtest/<start>_<end>/``, is written into a temporary directory and
renamed into place when the last period is done: ``periods.parquet`` (one row per date),
``report.html`` and ``workspace/`` (the replay itself, for inspection).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core import clock
from glocal.core.atomic import replace_directory
from glocal.core.errors import ConfigError, DataFileError
from glocal.core.logging import get_logger
from glocal.data import ingest_file
from glocal.monitoring.backtest_report import write_backtest_report
from glocal.monitoring.monitor import MonitorResult, run_monitor
from glocal.pipeline import RunSummary, run_pipeline

__all__ = ["PERIOD_COLUMNS", "BacktestResult", "backtest_dates", "run_backtest"]

PERIOD_COLUMNS = (
    "date",
    "run_id",
    "entities_scored",
    "entities_retrained",
    "global_retrained",
    "realized_cutoff",
    "mse_served",
    "mse_global",
    "mse_naive",
    "mse_btyd",
    "mae_served",
    "mae_global",
    "mae_naive",
    "mae_btyd",
    "local_share",
    "demoted",
    "alerts",
    "seconds",
)
"""Columns of ``periods.parquet``, one row per replayed date (the errors are those of the
predictions realized at that date; ``naive`` and ``btyd`` are the panel's baseline
forecasts on the same rows, NaN where the panel has none)."""

_log = get_logger(__name__)


@dataclass(frozen=True)
class BacktestResult:
    """Where the backtest wrote its outputs, and its periods."""

    directory: Path
    periods: pd.DataFrame
    seconds: float


def backtest_dates(start: dt.date, end: dt.date, every_days: int) -> list[dt.date]:
    """Return ``start, start + every, ...`` up to and including ``end``.

    Raises:
        ConfigError: ``end`` is before ``start`` or ``every_days`` is not positive.

    Examples:
        >>> [d.isoformat() for d in backtest_dates(dt.date(2011, 6, 6), dt.date(2011, 6, 20), 7)]
        ['2011-06-06', '2011-06-13', '2011-06-20']

    """
    if every_days < 1:
        raise ConfigError(f"--every {every_days}d must be at least 1d, e.g. --every 7d.")
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}; give an end after the start.")
    count = (end - start).days // every_days + 1
    return [start + dt.timedelta(days=every_days * i) for i in range(count)]


def _replay_settings(settings: Settings) -> Settings:
    """Return the user's settings with the replay's own registry (never the shared one)."""
    registry = settings.registry.model_copy(update={"url": None})
    return settings.model_copy(update={"registry": registry})


def _row(
    day: dt.date, summary: RunSummary, monitor: MonitorResult, seconds: float
) -> dict[str, Any]:
    scored = pd.read_parquet(summary.predictions) if summary.predictions else pd.DataFrame()
    series = monitor.series
    latest = series.iloc[-1] if len(series) else None
    local = scored["source"].isin(["local", "blend"]) if len(scored) else pd.Series(dtype=bool)
    return {
        "date": pd.Timestamp(day),
        "run_id": summary.production_run_id,
        "entities_scored": len(scored),
        "entities_retrained": int(summary.counts.get("retrained", 0)) if summary.run_id else 0,
        "global_retrained": summary.mode in ("full", "refresh"),
        "realized_cutoff": None if latest is None else pd.Timestamp(latest["cutoff"]),
        **{
            name: float(latest[name]) if latest is not None and name in latest else np.nan
            for name in PERIOD_COLUMNS
            if name.startswith(("mse_", "mae_"))
        },
        "local_share": float(local.mean()) if len(local) else 0.0,
        "demoted": monitor.demoted,
        "alerts": ", ".join(sorted({alert.name for alert in monitor.alerts})),
        "seconds": seconds,
    }


def _replay(workspace: Workspace, dates: list[dt.date], settings: Settings) -> pd.DataFrame:
    rows = []
    for number, day in enumerate(dates):
        start = time.perf_counter()
        summary = run_pipeline(workspace, settings, as_of=day)
        with clock.frozen_at(clock.as_of_moment(day)):
            # every date's JSON and Parquet; the HTML report of the last date only
            monitor = run_monitor(workspace, settings, report=number == len(dates) - 1)
        seconds = time.perf_counter() - start
        rows.append(_row(day, summary, monitor, seconds))
        _log.info(
            "backtest %s (%d/%d): %s, %d retrained, %d demoted, %.1f s",
            day,
            number + 1,
            len(dates),
            summary.mode,
            rows[-1]["entities_retrained"],
            monitor.demoted,
            seconds,
        )
    periods = pd.DataFrame(rows, columns=list(PERIOD_COLUMNS))
    periods["realized_cutoff"] = pd.to_datetime(periods["realized_cutoff"])
    return periods


def run_backtest(
    workspace: Workspace,
    settings: Settings,
    data: Path,
    start: dt.date,
    end: dt.date | None = None,
    every_days: int = 7,
) -> BacktestResult:
    """Replay the daily routine on ``data`` at every date from ``start`` to ``end``.

    ``end`` defaults to the day after the data's last transaction.

    Raises:
        DataFileError: ``data`` does not exist.
        ConfigError: Bad dates or spacing.
        GlocalError: Whatever a replayed run or monitor refuses (named by that step).

    """
    if not data.is_file():
        raise DataFileError(
            f"the data file {data} does not exist. Pass the transactions to replay with --data."
        )
    replay_settings = _replay_settings(settings)
    root = workspace.evaluation_dir / "backtest"
    staging = root / f".{start.isoformat()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)  # what a killed backtest left
    staging.mkdir(parents=True)
    began = time.perf_counter()
    try:
        replay = Workspace(staging / "workspace")
        replay.init()
        version = ingest_file(data, replay, replay_settings).version
        last = end or version.date_max.date() + dt.timedelta(days=1)
        if end is None and start > last:
            raise ConfigError(
                f"--start {start} is after the end of the data ({last}); give a start date "
                "inside the data."
            )
        dates = backtest_dates(start, last, every_days)
        periods = _replay(replay, dates, replay_settings)
        periods.to_parquet(staging / "periods.parquet", index=False)
        write_backtest_report(periods, settings.objective, staging / "report.html")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = root / f"{start.isoformat()}_{last.isoformat()}"
    replace_directory(staging, target)
    return BacktestResult(target, periods, time.perf_counter() - began)
