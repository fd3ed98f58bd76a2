"""Pipeline layer: the daily end-to-end job (``glocal run``) and batch inference.

* :func:`run_pipeline` runs ingest -> features -> train -> bundle -> register -> promote ->
  predict, skipping every step whose inputs did not change, retraining local models only
  for entities with new transactions and the global model on its cadence;
* :func:`predict_batch` scores the latest snapshot with the ``production`` bundle;
* :func:`prune_old_runs` deletes the bundles of old runs (retention);
* :class:`WorkspaceLock` keeps two runs from overlapping in one workspace, and
  :class:`RegistryRunLock` on one object store (``storage.url``);
* :func:`open_remote_workspace` / :func:`sync_workspace` / :func:`close_remote_workspace`
  run a command on a scratch copy of a workspace kept in an object store.

It sits directly below the CLI and may use every other layer.
"""

from __future__ import annotations

from glocal.pipeline.lock import WorkspaceLock
from glocal.pipeline.predict import PREDICTION_FILE_COLUMNS, BatchPredictions, predict_batch
from glocal.pipeline.registry_lock import RegistryRunLock
from glocal.pipeline.remote import (
    close_remote_workspace,
    open_remote_workspace,
    pull_workspace,
    sync_workspace,
)
from glocal.pipeline.retention import prune_old_runs
from glocal.pipeline.run import STEPS, StepHook, run_pipeline
from glocal.pipeline.summary import RunSummary, StepRecord, render_summary

__all__ = [
    "PREDICTION_FILE_COLUMNS",
    "STEPS",
    "BatchPredictions",
    "RegistryRunLock",
    "RunSummary",
    "StepHook",
    "StepRecord",
    "WorkspaceLock",
    "close_remote_workspace",
    "open_remote_workspace",
    "predict_batch",
    "prune_old_runs",
    "pull_workspace",
    "render_summary",
    "run_pipeline",
    "sync_workspace",
]
