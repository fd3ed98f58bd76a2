"""``glocal evaluate``: fit every policy on train + validation and score it on the test block.

The hybrid model is fitted on the train block, decides per entity on the validation block,
is refitted on both (see :class:`glocal.models.HybridModel`) and then scores the test block,
which nothing has seen. The reference policies of :mod:`glocal.evaluation.policies` are
scored on the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glocal.config import Settings
from glocal.core.atomic import atomic_path, write_json_atomic
from glocal.core.logging import get_logger
from glocal.core.progress import step_progress
from glocal.evaluation.metrics import overall_errors, per_entity_errors
from glocal.evaluation.plots import (
    plot_gain_vs_rows,
    plot_mse_distribution,
    plot_validation_scatter,
)
from glocal.evaluation.policies import (
    entity_oracle_predictions,
    global_predictions,
    seed_recipe_predictions,
)
from glocal.evaluation.report import write_report
from glocal.features import PanelSplit
from glocal.models import HybridModel

__all__ = ["POLICIES", "Evaluation", "evaluate_split", "write_evaluation"]

POLICIES = (
    "global",
    "local_only",
    "seed_recipe",
    "global_with_entity_id",
    "hybrid",
    "entity_oracle",
)
"""The policies of ``metrics.json``, in order."""

_log = get_logger("evaluation")


@dataclass(frozen=True)
class Evaluation:
    """What ``glocal evaluate`` computed: ``metrics.json``'s content and per-entity rows."""

    metrics: dict[str, Any]
    entities: pd.DataFrame


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def _entity_table(
    decisions: pd.DataFrame, errors: pd.DataFrame, test_entities: pd.Series
) -> pd.DataFrame:
    table = errors.merge(decisions, on="entity_id", how="outer")
    unseen = ~table["entity_id"].isin(decisions["entity_id"])
    table.loc[unseen, "decision"] = "global"
    table.loc[unseen, "reason"] = "UNSEEN"
    table["n_test"] = table["n_test"].fillna(0).astype("int64")
    return table.sort_values("entity_id", kind="stable").reset_index(drop=True)


def evaluate_split(
    split: PanelSplit,
    settings: Settings,
    dataset: dict[str, Any],
    include_seed_recipe: bool = True,
) -> Evaluation:
    """Fit every policy on ``split`` and score it on the test block.

    Args:
        split: The time split of the panel.
        settings: Settings of the global model, local models and selection.
        dataset: The ``dataset`` section of ``metrics.json`` (path, version, ...).
        include_seed_recipe: Also fit the user's recipe (a random forest: the slowest part).

    """
    timings: dict[str, float] = {}
    train, validation, test = split.train, split.validation, split.test
    target = test["target"].to_numpy(dtype=np.float64)
    steps = 4 if include_seed_recipe else 3
    with _timed(timings, "total"), step_progress("evaluating", steps) as progress:
        progress.advance("fitting the hybrid model")
        with _timed(timings, "hybrid_fit"):
            model = HybridModel(
                global_model=settings.global_model,
                local_models=settings.local_models,
                selection=settings.selection,
                seed=settings.seed,
            ).fit(train, validation)
        with _timed(timings, "hybrid_predict"):
            scored = model.predict(test)

        def fit_global(with_entity_id: bool) -> np.ndarray:
            return global_predictions(
                train,
                validation,
                test,
                model.feature_columns_,
                model.categorical_columns_,
                settings.global_model,
                settings.seed,
                with_entity_id=with_entity_id,
            )

        hybrid_global = scored["global_prediction"].to_numpy(dtype=np.float64)
        # The hybrid's global model is one of the two global policies (fitted the same way:
        # same settings, seed and data); only the other one needs fitting here. `global`
        # stays the plain model, so the table shows what the entity id buys.
        progress.advance("fitting the other global model")
        if model.global_uses_entity_:
            with _timed(timings, "global"):
                global_pred = fit_global(with_entity_id=False)
            entity_pred = hybrid_global
        else:
            global_pred = hybrid_global
            with _timed(timings, "global_with_entity_id"):
                entity_pred = fit_global(with_entity_id=True)
        local_pred = scored["local_prediction"].to_numpy(dtype=np.float64)
        local_only = np.where(np.isnan(local_pred), global_pred, local_pred)
        predictions = {
            "global": global_pred,
            "local_only": local_only,
            "hybrid": scored["prediction"].to_numpy(dtype=np.float64),
            "global_with_entity_id": entity_pred,
        }
        if include_seed_recipe:
            progress.advance("fitting the seed recipe")
            with _timed(timings, "seed_recipe"):
                history = pd.concat([train, validation], ignore_index=True)
                predictions["seed_recipe"] = seed_recipe_predictions(
                    history, test, model.feature_columns_, model.categorical_columns_, settings.seed
                )
        predictions["entity_oracle"] = entity_oracle_predictions(
            test["entity_id"], target, global_pred, local_only
        )
        progress.advance("scoring")
    ordered = {name: predictions[name] for name in POLICIES if name in predictions}
    errors = per_entity_errors(test["entity_id"], target, ordered)
    entities = _entity_table(model.decisions_, errors, test["entity_id"])
    choices = entities["decision"].value_counts()
    metrics: dict[str, Any] = {
        "dataset": dataset,
        "split": split.to_dict(),
        "policies": {name: overall_errors(target, pred) for name, pred in ordered.items()},
        "choices": {str(k): int(v) for k, v in choices.items()},
        "timings_s": timings,
    }
    return Evaluation(metrics=metrics, entities=entities)


def write_evaluation(evaluation: Evaluation, directory: Path) -> dict[str, Path]:
    """Write metrics.json, entities.parquet, the plots and report.html into ``directory``.

    Each file is written atomically, ``metrics.json`` last, so a reader that sees a new
    ``metrics.json`` also sees the matching entities and plots.
    """
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    paths = {
        "entities": directory / "entities.parquet",
        "mse_distribution": directory / "mse_distribution.png",
        "validation_scatter": directory / "validation_scatter.png",
        "gain_vs_rows": directory / "gain_vs_rows.png",
        "report": directory / "report.html",
        "metrics": directory / "metrics.json",
    }
    with atomic_path(paths["entities"]) as tmp:
        evaluation.entities.to_parquet(tmp, index=False)
    plot_mse_distribution(evaluation.entities, paths["mse_distribution"])
    plot_validation_scatter(evaluation.entities, paths["validation_scatter"])
    plot_gain_vs_rows(evaluation.entities, paths["gain_vs_rows"])
    evaluation.metrics["timings_s"]["report"] = round(time.perf_counter() - start, 3)
    plots = {k: paths[k] for k in ("mse_distribution", "validation_scatter", "gain_vs_rows")}
    write_report(evaluation.metrics, plots, paths["report"])
    write_json_atomic(paths["metrics"], evaluation.metrics)
    _log.info("wrote %s", ", ".join(p.name for p in paths.values()))
    return paths
