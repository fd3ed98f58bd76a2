"""The predictions glocal served, read back from the workspace, keyed by (entity, cutoff).

Three sources, all written by glocal itself:

* ``predictions/daily/<cutoff>.parquet`` (``glocal run``) and
  ``predictions/batch/<date>.parquet`` (``glocal predict``): one row per entity;
* ``predictions/online/<date>/part-*.parquet`` (``glocal serve``): one row per request.
  Only id-only requests carry the snapshot's cutoff and can meet an actual; requests with
  their own features (``cutoff`` null) are counted, not scored.

A (entity, cutoff) pair scored more than once (a rerun, a batch beside the daily file, a
request answered from the same snapshot) counts once: the newest run's prediction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glocal.config import Workspace
from glocal.core.errors import DataFileError

__all__ = ["SERVED_COLUMNS", "ServedPredictions", "read_served"]

SERVED_COLUMNS = ("entity_id", "cutoff", "prediction", "source", "global_prediction", "run_id")
"""Columns of the served predictions, one row per (entity, cutoff)."""

_UNKNOWN = "global_unknown_entity"


@dataclass(frozen=True)
class ServedPredictions:
    """Every served (entity, cutoff) prediction, and what the online log says besides."""

    frame: pd.DataFrame
    online_requests: int
    online_unknown: int
    online_with_features: int


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, KeyError) as exc:
        raise DataFileError(
            f"cannot read the prediction file {path} ({exc}). Delete it if it is damaged: "
            "`glocal predict` (or the next `glocal run`) writes it again."
        ) from None


def _dated(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None  # not named by a date: always read


def _files(root: Path, pattern: str, since: dt.date | None) -> list[Path]:
    """Files matching ``pattern``, skipping those named by a date before ``since``.

    Daily files are named by their cutoff, batch files by their cutoff unless a date was
    given, and online parts sit in a directory named by the day they were served (never
    before their cutoff): a file named before ``since`` holds no cutoff after it.
    """
    if not root.is_dir():
        return []
    paths = sorted(root.glob(pattern))
    if since is None:
        return paths
    kept = []
    for path in paths:
        name = path.parent.name if path.name.startswith("part-") else path.stem
        day = _dated(name)
        if day is None or day >= since:
            kept.append(path)
    return kept


def read_served(workspace: Workspace, since: dt.date | None = None) -> ServedPredictions:
    """Read the workspace's prediction files (cutoffs on or after ``since``, if given).

    Files named by a date before ``since`` are not opened, so a monitor reads a window's
    worth of files however long the workspace has been running.
    """
    columns = list(SERVED_COLUMNS)
    root = workspace.predictions_dir
    frames = [_read(p, columns) for p in _files(root, "daily/*.parquet", since)]
    frames += [_read(p, columns) for p in _files(root, "batch/*.parquet", since)]
    online = [
        _read(p, [*columns, "with_features"])
        for p in _files(root, "online/*/part-*.parquet", since)
    ]
    log = pd.concat(online, ignore_index=True) if online else pd.DataFrame(columns=columns)
    requests, unknown, with_features = len(log), 0, 0
    if len(log):
        unknown = int((log["source"] == _UNKNOWN).sum())
        with_features = int(log["cutoff"].isna().sum())
        frames.append(log.loc[log["cutoff"].notna(), columns])
    if not frames:
        return ServedPredictions(pd.DataFrame(columns=columns), requests, unknown, with_features)
    served = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    served["entity_id"] = served["entity_id"].astype(str)
    served["cutoff"] = pd.to_datetime(served["cutoff"]).astype("datetime64[us]")
    if since is not None:
        served = served.loc[served["cutoff"] >= pd.Timestamp(since)]
    served = (
        served.sort_values(["entity_id", "cutoff", "run_id"], kind="stable")
        .drop_duplicates(["entity_id", "cutoff"], keep="last")
        .reset_index(drop=True)
    )
    return ServedPredictions(served.loc[:, columns], requests, unknown, with_features)
