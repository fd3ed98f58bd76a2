"""What the service serves: the production run, compiled for per-request work.

A :class:`ServingState` is built once per production run, beside the one being served, and
then swapped in whole (:mod:`glocal.serving.reloader`). Building it:

1. resolves the registry's ``production`` alias and verifies every checksum of its bundle;
2. compiles the model into a :class:`~glocal.models.routing.RoutedPredictor`;
3. scores every entity's latest snapshot (``features_latest.parquet`` of the current panel)
   in one batch, as ``glocal predict`` does, so an id-only request is a dictionary lookup
   and returns exactly what ``glocal predict`` wrote for that entity.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config import Settings, Workspace
from glocal.models.routing import RoutedPredictor
from glocal.pipeline.predict import latest_snapshot, load_production, score_snapshot
from glocal.pipeline.remote import pull_workspace

__all__ = [
    "UNKNOWN_ENTITY",
    "Answer",
    "ServingState",
    "SnapshotAnswers",
    "load_serving_state",
    "settle_heap",
]

UNKNOWN_ENTITY = "global_unknown_entity"
"""The ``source`` of an entity the production run has no decision for."""


@dataclass(frozen=True)
class Answer:
    """One served prediction."""

    entity_id: str
    prediction: float
    source: str
    global_prediction: float
    run_id: str
    cutoff: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the answer's JSON body."""
        return {
            "entity_id": self.entity_id,
            "prediction": self.prediction,
            "source": self.source,
            "global_prediction": self.global_prediction,
            "run_id": self.run_id,
            "cutoff": self.cutoff,
        }


@dataclass(frozen=True)
class SnapshotAnswers:
    """Every entity's latest snapshot, scored once at load, as arrays (no object per row).

    Attributes:
        index: Entity id → row.
        entity_ids: Entity id per row.
        prediction: The served prediction per row.
        global_prediction: The global stage's prediction per row.
        source: Code into ``sources`` per row.
        sources: The distinct sources.
        cutoff: Code into ``cutoffs`` per row.
        cutoffs: The distinct snapshot dates, ``YYYY-MM-DD``.

    """

    index: dict[str, int]
    entity_ids: list[str]
    prediction: npt.NDArray[np.float64]
    global_prediction: npt.NDArray[np.float64]
    source: npt.NDArray[np.intp]
    sources: list[str]
    cutoff: npt.NDArray[np.intp]
    cutoffs: list[str]

    @classmethod
    def from_scored(cls, router: RoutedPredictor, scored: pd.DataFrame) -> SnapshotAnswers:
        """Build them from :func:`~glocal.pipeline.predict.score_snapshot`'s frame."""
        ids = scored["entity_id"].astype(str).to_numpy(dtype=object).tolist()
        known = np.fromiter((entity in router.entity_index for entity in ids), bool, len(ids))
        given = scored["source"].astype(str).to_numpy(dtype=object)
        source_codes, sources = pd.factorize(np.where(known, given, UNKNOWN_ENTITY))
        days = pd.to_datetime(scored["cutoff"]).dt.strftime("%Y-%m-%d")
        cutoff_codes, cutoffs = pd.factorize(days.to_numpy(dtype=object))
        return cls(
            index={entity: row for row, entity in enumerate(ids)},
            entity_ids=ids,
            prediction=scored["prediction"].to_numpy(dtype=np.float64),
            global_prediction=scored["global_prediction"].to_numpy(dtype=np.float64),
            source=source_codes,
            sources=[str(source) for source in sources],
            cutoff=cutoff_codes,
            cutoffs=[str(day) for day in cutoffs],
        )


@dataclass
class ServingState:
    """A production run ready to answer: the compiled model and the scored snapshot."""

    run_id: str
    bundle: Path
    router: RoutedPredictor
    feature_columns: list[str]
    categorical_columns: list[str]
    snapshot: SnapshotAnswers
    loaded_at: float

    def answer_snapshot(self, entity_id: str) -> Answer | None:
        """Return the precomputed answer for the entity's latest snapshot, if it has one."""
        row = self.snapshot.index.get(entity_id)
        if row is None:
            return None
        snapshot = self.snapshot
        return Answer(
            entity_id=entity_id,
            prediction=float(snapshot.prediction[row]),
            source=snapshot.sources[snapshot.source[row]],
            global_prediction=float(snapshot.global_prediction[row]),
            run_id=self.run_id,
            cutoff=snapshot.cutoffs[snapshot.cutoff[row]],
        )

    def answer_features(self, entity_id: str, features: Mapping[str, Any]) -> Answer:
        """Validate the features against the model's schema and predict them.

        Raises:
            ModelError: A feature is missing, unknown, mistyped, NaN or infinite.

        """
        row = self.router.predict_one(entity_id, features)
        known = entity_id in self.router.entity_index
        return Answer(
            entity_id=entity_id,
            prediction=row.prediction,
            source=row.source if known else UNKNOWN_ENTITY,
            global_prediction=row.global_prediction,
            run_id=self.run_id,
            cutoff=None,
        )


def load_serving_state(workspace: Workspace, settings: Settings) -> ServingState | None:
    """Load and verify the production run and score its snapshot; ``None`` if none yet.

    Raises:
        BundleError: The production bundle is missing or fails its checksums.
        WorkspaceError: There is no feature panel to take the latest snapshots from.

    """
    pull_workspace(workspace)  # with an object store: the panel another run published
    production = load_production(workspace, settings)
    if production is None:
        return None
    router = RoutedPredictor(production.model)
    router.warm_up()  # the first request must not pay for compiling the tree kernel
    scored = score_snapshot(production.model, latest_snapshot(workspace), production.run_id)
    model = production.model
    return ServingState(
        run_id=production.run_id,
        bundle=production.bundle,
        router=router,
        feature_columns=list(model.feature_columns_),
        categorical_columns=list(model.categorical_columns_),
        snapshot=SnapshotAnswers.from_scored(router, scored),
        loaded_at=time.time(),
    )


def settle_heap() -> None:
    """Keep the loaded state out of the garbage collector's full passes.

    A state holds an object per entity; with a million entities a full collection walks
    all of them and pauses every request for a long moment. After a load the old state's
    garbage is collected once, then everything alive is frozen (``gc.freeze``): still
    freed when unreferenced, never walked again.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
