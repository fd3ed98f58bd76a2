"""The per-entity state a run hands to the next one: fingerprints and lineage.

Each run writes ``models/pipeline/<run_id>/entities.parquet``, one row per entity of its
data: the fingerprint of the entity's transactions (:mod:`glocal.pipeline.fingerprints`),
the run that last trained the entity's local models, when, and the global model version
its decision was made against. The file is written (atomically) *before* the run's bundle,
and its SHA-256 is recorded in the bundle's manifest (``metrics.pipeline.state_sha256``),
so the checksummed bundle pins it; a state directory without a finished bundle is left by
a killed run and removed by the next one.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd

from glocal.config import Workspace
from glocal.core import clock
from glocal.core.atomic import atomic_directory
from glocal.core.errors import BundleError
from glocal.core.hashing import hash_file
from glocal.pipeline.fingerprints import FINGERPRINT_COLUMNS
from glocal.pipeline.remote import fetch_file

__all__ = [
    "STATE_COLUMNS",
    "cleanup_orphan_states",
    "read_entity_state",
    "state_path",
    "write_entity_state",
]

STATE_COLUMNS = (*FINGERPRINT_COLUMNS, "trained_run_id", "trained_at", "global_version_id")
"""Columns of ``entities.parquet``, in order."""

_STATE_FILE = "entities.parquet"


def _states_root(workspace: Workspace) -> Path:
    return workspace.models_dir / "pipeline"


def state_path(workspace: Workspace, run_id: str) -> Path:
    """Return ``models/pipeline/<run_id>/entities.parquet``."""
    return _states_root(workspace) / run_id / _STATE_FILE


def write_entity_state(workspace: Workspace, run_id: str, state: pd.DataFrame) -> str:
    """Write a run's entity state atomically; return the file's SHA-256."""
    target = state_path(workspace, run_id)
    if target.parent.exists():  # left by an attempt of the same run id that died
        shutil.rmtree(target.parent)
    with atomic_directory(target.parent) as tmp:
        state.loc[:, list(STATE_COLUMNS)].to_parquet(tmp / _STATE_FILE, index=False)
    return hash_file(target)


def read_entity_state(workspace: Workspace, run_id: str, sha256: str | None) -> pd.DataFrame:
    """Read a run's entity state, checking it against the SHA-256 its bundle recorded.

    Raises:
        BundleError: The file is missing or does not match the recorded checksum.

    """
    path = state_path(workspace, run_id)
    if not fetch_file(workspace, path):
        raise BundleError(
            f"the entity state of run {run_id} ({path}) is missing, so the next run cannot "
            "tell which entities changed. Run `glocal run --retrain-global` to retrain all."
        )
    if sha256 is not None and hash_file(path) != sha256:
        raise BundleError(
            f"checksum mismatch: {path} differs from the SHA-256 recorded in the manifest "
            f"of run {run_id}. Run `glocal run --retrain-global` to retrain every entity."
        )
    frame = pd.read_parquet(path)
    frame["entity_id"] = frame["entity_id"].astype(object)
    return frame


def cleanup_orphan_states(workspace: Workspace, finished_runs: set[str]) -> list[Path]:
    """Remove state directories of runs without a finished bundle (killed runs)."""
    root = _states_root(workspace)
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and path.name not in finished_runs:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def utc_now() -> dt.datetime:
    """Return the current time in UTC (one place to read the clock)."""
    return clock.now()
