"""Batch inference: score every entity's latest snapshot with the production bundle.

``predict_batch`` loads the bundle the registry alias ``production`` points to (verifying
every checksum), scores ``features_latest.parquet`` of the current panel and writes
``predictions/batch/<date>.parquet`` atomically, where ``<date>`` is the snapshot's cutoff
(the data's date, not the wall clock's) unless a date is given. Entities the bundle does
not know get the global model's prediction with ``source = 'global'``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core.atomic import atomic_path
from glocal.core.errors import WorkspaceError
from glocal.features import read_current_panel, read_panel
from glocal.registry import Registry, load_bundle

if TYPE_CHECKING:
    from glocal.models import HybridModel

__all__ = [
    "PREDICTION_FILE_COLUMNS",
    "BatchPredictions",
    "ProductionModel",
    "daily_prediction_path",
    "load_production",
    "predict_batch",
    "score_latest_on_spark",
    "score_snapshot",
    "snapshot_cutoff",
    "write_predictions",
]

PREDICTION_FILE_COLUMNS = (
    "entity_id",
    "cutoff",
    "prediction",
    "source",
    "run_id",
    "global_prediction",
    "local_prediction",
)
"""Columns of every prediction file, in order."""


@dataclass(frozen=True)
class ProductionModel:
    """The model the ``production`` alias points to, loaded from its verified bundle."""

    run_id: str
    model: HybridModel
    manifest: dict[str, Any]
    bundle: Path


@dataclass(frozen=True)
class BatchPredictions:
    """A written prediction file and what it holds."""

    path: Path
    frame: pd.DataFrame
    run_id: str


def load_production(workspace: Workspace, settings: Settings) -> ProductionModel | None:
    """Return the production model, or ``None`` when nothing was promoted yet.

    Raises:
        BundleError: The production bundle is missing or fails its checksums.

    """
    with Registry.open(settings.registry.url, workspace) as registry:
        run_id = registry.alias("production")
        if run_id is None:
            return None
        bundle = registry.resolve_bundle(run_id)
    model, manifest = load_bundle(bundle)
    return ProductionModel(run_id=run_id, model=model, manifest=manifest, bundle=bundle)


def _prediction_file_frame(scored: pd.DataFrame, cutoff: Any, run_id: str) -> pd.DataFrame:
    """Return ``predict`` output (with its ``entity_id``) as :data:`PREDICTION_FILE_COLUMNS`."""
    frame = pd.DataFrame(
        {
            "entity_id": scored["entity_id"].astype(str).to_numpy(),
            "cutoff": cutoff,
            "prediction": scored["prediction"].to_numpy(),
            "source": scored["source"].astype(str).to_numpy(),
            "run_id": run_id,
            "global_prediction": scored["global_prediction"].to_numpy(),
            "local_prediction": scored["local_prediction"].to_numpy(),
        }
    )
    return frame.loc[:, list(PREDICTION_FILE_COLUMNS)]


def score_snapshot(model: HybridModel, snapshot: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Score one snapshot row per entity; return the columns :data:`PREDICTION_FILE_COLUMNS`."""
    scored = model.predict(snapshot)
    return _prediction_file_frame(scored, snapshot["cutoff"].to_numpy(), run_id)


def write_predictions(frame: pd.DataFrame, path: Path) -> Path:
    """Write a prediction frame to ``path`` atomically (Parquet)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def latest_snapshot(workspace: Workspace) -> pd.DataFrame:
    """Return ``features_latest.parquet`` of the current panel."""
    return read_panel(read_current_panel(workspace).files.latest)


def snapshot_cutoff(snapshot: pd.DataFrame) -> dt.date:
    """Return the cutoff of a latest snapshot: the data's date that keys its predictions."""
    if snapshot.empty:
        raise WorkspaceError(
            "the latest snapshot has no rows; run `glocal features` (or `glocal run`) on "
            "data with at least one purchase."
        )
    return pd.Timestamp(snapshot["cutoff"].max()).date()


def daily_prediction_path(workspace: Workspace, cutoff: dt.date) -> Path:
    """Return ``predictions/daily/<cutoff>.parquet``: a run's predictions, keyed by cutoff."""
    return workspace.predictions_dir / "daily" / f"{cutoff.isoformat()}.parquet"


def score_latest_on_spark(
    workspace: Workspace,
    settings: Settings,
    run_id: str,
    bundle: Path,
    model: HybridModel | None = None,
) -> tuple[pd.DataFrame, dt.date]:
    """Score the latest snapshot file on Spark (``engine: spark``) with ``bundle``.

    ``model`` is the bundle's model if already loaded. Returns the rows
    :func:`score_snapshot` gives for the same file, and its cutoff.
    """
    from glocal.pipeline.engine import score_with_spark

    latest = read_current_panel(workspace).files.latest
    cutoffs = pd.read_parquet(latest, columns=["cutoff"])  # one column, for the file's name
    scores = score_with_spark(settings, bundle, latest, model)
    frame = _prediction_file_frame(scores, cutoffs["cutoff"].max(), run_id)
    return frame, snapshot_cutoff(cutoffs)


def predict_batch(
    workspace: Workspace,
    settings: Settings,
    date: dt.date | None = None,
    directory: str = "batch",
) -> BatchPredictions:
    """Score the latest snapshot with the production model; write ``<directory>/<date>``.

    ``date`` defaults to the snapshot's cutoff, so files are keyed by the data's date.
    With ``engine: spark`` the snapshot file is scored on Spark, the bundle broadcast
    (:func:`glocal.pipeline.engine.score_with_spark`); the file holds the same rows.

    Raises:
        WorkspaceError: No model was promoted to production yet, or there is no panel.
        BundleError: The production bundle fails its checksums.

    """
    production = load_production(workspace, settings)
    if production is None:
        raise WorkspaceError(
            f"there is no production model in {workspace.root} yet: run `glocal run` "
            "first (it trains, registers and promotes one)."
        )
    if settings.engine == "spark":
        frame, cutoff = score_latest_on_spark(
            workspace, settings, production.run_id, production.bundle, production.model
        )
    else:
        snapshot = latest_snapshot(workspace)
        frame = score_snapshot(production.model, snapshot, production.run_id)
        cutoff = snapshot_cutoff(snapshot)
    day = date or cutoff
    path = workspace.predictions_dir / directory / f"{day.isoformat()}.parquet"
    return BatchPredictions(write_predictions(frame, path), frame, production.run_id)
