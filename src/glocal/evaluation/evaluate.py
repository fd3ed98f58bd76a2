"""``glocal evaluate``: fit every policy on the history and score it on the test block.

The hybrid model is fitted on the history (it lays its own validation folds inside it,
see :class:`glocal.models.HybridModel`) and then scores the test block, which nothing has
seen. The reference policies of :mod:`glocal.evaluation.policies` and
:mod:`glocal.evaluation.btyd` are scored on the same rows. With ``windows > 1`` the whole
comparison is repeated on earlier test blocks (:func:`evaluate_windows`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config import Settings
from glocal.core.logging import get_logger
from glocal.core.progress import step_progress
from glocal.evaluation.btyd import btyd_predictions
from glocal.evaluation.metrics import overall_errors, per_entity_errors
from glocal.evaluation.policies import (
    entity_oracle_predictions,
    learner_predictions,
    naive_predictions,
    seed_recipe_predictions,
)
from glocal.features import PanelSplit, split_panel
from glocal.models import HybridModel

__all__ = [
    "BASELINE_POLICIES",
    "POLICIES",
    "Evaluation",
    "evaluate_split",
    "evaluate_windows",
    "window_entry",
]

POLICIES = (
    "naive",
    "btyd",
    "global",
    "global_with_entity_id",
    "seed_recipe",
    "global_stage",
    "local_only",
    "hybrid",
    "entity_oracle",
)
"""The policies of ``metrics.json``, in order."""

BASELINE_POLICIES = ("naive", "btyd", "global", "global_with_entity_id")
"""The policies the hybrid must beat: the simple, the standard and one global model."""

FloatArray = npt.NDArray[np.float64]

_log = get_logger("evaluation")


@dataclass(frozen=True)
class Evaluation:
    """What ``glocal evaluate`` computed: metrics, per-entity rows and per-row predictions."""

    metrics: dict[str, Any]
    entities: pd.DataFrame
    predictions: pd.DataFrame


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def _entity_table(decisions: pd.DataFrame, errors: pd.DataFrame) -> pd.DataFrame:
    table = errors.merge(decisions, on="entity_id", how="outer")
    unseen = ~table["entity_id"].isin(decisions["entity_id"])
    table.loc[unseen, "decision"] = "global"
    table.loc[unseen, "reason"] = "UNSEEN"
    table["n_test"] = table["n_test"].fillna(0).astype("int64")
    return table.sort_values("entity_id", kind="stable").reset_index(drop=True)


def _fit_hybrid(split: PanelSplit, settings: Settings) -> HybridModel:
    return HybridModel(
        global_model=settings.global_model,
        local_models=settings.local_models,
        selection=settings.selection,
        seed=settings.seed,
        split=settings.split,
        horizon_days=split.horizon_days,
        objective=settings.objective,
    ).fit(split.history)


def _policy_predictions(
    split: PanelSplit,
    settings: Settings,
    transactions: pd.DataFrame | None,
    include_seed_recipe: bool,
    timings: dict[str, float],
    notes: dict[str, str],
) -> tuple[HybridModel, dict[str, FloatArray]]:
    """Fit every policy on ``split.history`` and predict ``split.test``."""
    history, test = split.history, split.test
    target = test["target"].to_numpy(dtype=np.float64)
    steps = 6 if include_seed_recipe else 5
    with step_progress("evaluating", steps) as progress:
        progress.advance("hybrid")
        with _timed(timings, "hybrid"):
            model = _fit_hybrid(split, settings)
            scored = model.predict(test)
        predictions: dict[str, FloatArray] = {}
        naive = naive_predictions(test)
        if naive is None:
            notes["naive"] = "skipped: the panel has no baseline_naive column"
        else:
            predictions["naive"] = naive
        progress.advance("btyd")
        with _timed(timings, "btyd"):
            btyd, notes["btyd"] = btyd_predictions(transactions, test, split.horizon_days)
        if btyd is not None:
            predictions["btyd"] = btyd
        for name, with_entity in (("global", False), ("global_with_entity_id", True)):
            progress.advance(name)
            with _timed(timings, name):
                predictions[name] = learner_predictions(
                    history,
                    test,
                    split.folds[0],
                    model.feature_columns_,
                    model.categorical_columns_,
                    settings.global_model,
                    settings.seed,
                    settings.objective,
                    with_entity_id=with_entity,
                )
        if include_seed_recipe:
            progress.advance("seed recipe")
            with _timed(timings, "seed_recipe"):
                predictions["seed_recipe"], notes["seed_recipe"] = seed_recipe_predictions(
                    history,
                    test,
                    model.feature_columns_,
                    model.categorical_columns_,
                    settings.seed,
                )
        progress.advance("scoring")
        stage = scored["global_prediction"].to_numpy(dtype=np.float64)
        local = scored["local_prediction"].to_numpy(dtype=np.float64)
        local_only = np.where(np.isnan(local), stage, local)
        predictions["global_stage"] = stage
        predictions["local_only"] = local_only
        predictions["hybrid"] = scored["prediction"].to_numpy(dtype=np.float64)
        predictions["entity_oracle"] = entity_oracle_predictions(
            test["entity_id"], target, stage, local_only, settings.objective
        )
    return model, {name: predictions[name] for name in POLICIES if name in predictions}


def _best_baseline(
    predictions: dict[str, FloatArray], target: FloatArray, objective: str
) -> dict[str, Any]:
    """Return the best of the baseline policies and the hybrid's loss relative to it."""
    losses = {
        name: overall_errors(target, predictions[name])[objective]
        for name in BASELINE_POLICIES
        if name in predictions
    }
    best = min(losses, key=lambda name: losses[name])
    hybrid = overall_errors(target, predictions["hybrid"])[objective]
    return {
        "objective": objective,
        "policy": best,
        "loss": losses[best],
        "hybrid_ratio": hybrid / losses[best] if losses[best] else float("nan"),
    }


def evaluate_split(
    split: PanelSplit,
    settings: Settings,
    dataset: dict[str, Any],
    include_seed_recipe: bool = True,
    transactions: pd.DataFrame | None = None,
) -> Evaluation:
    """Fit every policy on ``split.history`` and score it on ``split.test``.

    Args:
        split: The time split of the panel.
        settings: Every setting (objective, models, selection, split).
        dataset: The ``dataset`` section of ``metrics.json`` (path, version, ...).
        include_seed_recipe: Also fit the user's recipe (a random forest: the slowest part).
        transactions: The cleaned transactions the panel was built from, for the ``btyd``
            policy; ``None`` skips it with a note.

    """
    timings: dict[str, float] = {}
    notes: dict[str, str] = {}
    test = split.test
    target = test["target"].to_numpy(dtype=np.float64)
    with _timed(timings, "total"):
        model, predictions = _policy_predictions(
            split, settings, transactions, include_seed_recipe, timings, notes
        )
    errors = per_entity_errors(test["entity_id"], target, predictions)
    entities = _entity_table(model.decisions_, errors)
    choices = entities["decision"].value_counts()
    frame = pd.DataFrame(
        {
            "entity_id": test["entity_id"].to_numpy(),
            "cutoff": test["cutoff"].to_numpy(),
            "target": target,
            **predictions,
        }
    )
    metrics: dict[str, Any] = {
        "dataset": dataset,
        "best_baseline": _best_baseline(predictions, target, settings.objective),
        "objective": settings.objective,
        "split": split.to_dict(),
        "policies": {name: overall_errors(target, pred) for name, pred in predictions.items()},
        "notes": notes,
        "choices": {str(k): int(v) for k, v in choices.items()},
        "hybrid": model.report_,
        "timings_s": timings,
    }
    return Evaluation(metrics=metrics, entities=entities, predictions=frame)


def window_entry(split: PanelSplit, predictions: dict[str, FloatArray]) -> dict[str, Any]:
    """Return one ``windows`` entry of metrics.json: the test block and every policy's errors."""
    target = split.test["target"].to_numpy(dtype=np.float64)
    test = split.to_dict()["test"]
    return {
        "test": {"start": test["start"], "end": test["end"], "rows": test["rows"]},
        "policies": {
            name: {
                key: value
                for key, value in overall_errors(target, prediction).items()
                if key != "rows"
            }
            for name, prediction in predictions.items()
            if name != "seed_recipe"
        },
    }


def evaluate_windows(
    panel: pd.DataFrame,
    settings: Settings,
    windows: range,
    transactions: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Score every policy but the seed recipe on earlier test blocks, one per window.

    Window 0 ends at the last cutoff with a known target, window ``k`` ``k *
    split.test_days`` days before; each has its own history, folds and fits.

    Returns:
        One :func:`window_entry` per window.

    """
    results = []
    horizon = settings.features.horizon_days
    for window in windows:
        split = split_panel(
            panel, settings.split, horizon, offset_days=window * settings.split.test_days
        )
        _log.info("window %d: test block %s", window, split.to_dict()["test"])
        _, predictions = _policy_predictions(split, settings, transactions, False, {}, {})
        results.append(window_entry(split, predictions))
    return results
