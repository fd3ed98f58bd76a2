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
import pandas as pd

from glocal.config import Settings, Workspace
from glocal.models.routing import RoutedPredictor
from glocal.pipeline.predict import latest_snapshot, load_production, score_snapshot

__all__ = ["UNKNOWN_ENTITY", "Answer", "ServingState", "load_serving_state", "settle_heap"]

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


@dataclass
class ServingState:
    """A production run ready to answer: the compiled model and the precomputed snapshot."""

    run_id: str
    bundle: Path
    router: RoutedPredictor
    feature_columns: list[str]
    categorical_columns: list[str]
    snapshot_index: dict[str, int]
    snapshot_answers: list[Answer]
    loaded_at: float

    def answer_snapshot(self, entity_id: str) -> Answer | None:
        """Return the precomputed answer for the entity's latest snapshot, if it has one."""
        row = self.snapshot_index.get(entity_id)
        return None if row is None else self.snapshot_answers[row]

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


def _snapshot_answers(
    router: RoutedPredictor, scored: pd.DataFrame
) -> tuple[dict[str, int], list[Answer]]:
    ids = scored["entity_id"].astype(str).tolist()
    known = np.array([entity in router.entity_index for entity in ids], dtype=bool)
    sources = np.where(known, scored["source"].astype(str).to_numpy(), UNKNOWN_ENTITY)
    cutoffs = pd.to_datetime(scored["cutoff"]).dt.strftime("%Y-%m-%d").tolist()
    answers = [
        Answer(entity, float(p), str(s), float(g), str(run), cutoff)
        for entity, p, s, g, run, cutoff in zip(
            ids,
            scored["prediction"].to_numpy(),
            sources,
            scored["global_prediction"].to_numpy(),
            scored["run_id"],
            cutoffs,
            strict=True,
        )
    ]
    return {entity: i for i, entity in enumerate(ids)}, answers


def load_serving_state(workspace: Workspace, settings: Settings) -> ServingState | None:
    """Load and verify the production run and score its snapshot; ``None`` if none yet.

    Raises:
        BundleError: The production bundle is missing or fails its checksums.
        WorkspaceError: There is no feature panel to take the latest snapshots from.

    """
    production = load_production(workspace, settings)
    if production is None:
        return None
    router = RoutedPredictor(production.model)
    router.warm_up()  # the first request must not pay for compiling the tree kernel
    scored = score_snapshot(production.model, latest_snapshot(workspace), production.run_id)
    index, answers = _snapshot_answers(router, scored)
    model = production.model
    return ServingState(
        run_id=production.run_id,
        bundle=production.bundle,
        router=router,
        feature_columns=list(model.feature_columns_),
        categorical_columns=list(model.categorical_columns_),
        snapshot_index=index,
        snapshot_answers=answers,
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
