"""The hybrid model's global stage: several global forecasts, combined on validation folds.

Components:

* **learners**: the global learner (LightGBM by default) once per entry of
  ``global_model.offsets``: on the target (``none``), or on the target minus a baseline
  forecast of the panel (``baseline_<name>``), which it then only corrects;
* **baselines**: every ``baseline_*`` column of the panel as it is (the naive forecast,
  rates over other windows, BG/NBD + Gamma-Gamma), when ``ensemble_baselines`` is on.

Every learner is fitted once per validation fold on the rows before it (the most recent
fold early-stops it; the others reuse its size), so each component has out-of-time
predictions on every fold. ``entity_feature: auto`` adds the entity id to the learners
only if that is better on the most recent fold (checked first: the learner with the id is
fitted on the other folds only if it wins there) and significantly better on all of them.
Then, with ``ensemble: auto``, the
stage averages every component not significantly worse than the best one (a model
confidence set; each test is clustered by entity, so a few very large customers cannot
decide it), with weights ``(best loss / component loss) ** ensemble_sharpness`` on the
validation folds, unless the best component alone is significantly better than that
average. The weights are deliberately not fitted: weights optimised on a few noisy
validation weeks are known to do worse out of sample than a plain average of good
forecasts, and the power keeps a component 10% worse at half the weight and one 50% worse
out of the way. With ``ensemble: best``, the single best component is used.

The members are finally refitted on the whole history with their early-stopped size.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import GlobalModelSettings, Objective
from glocal.core.errors import ModelError, NotFittedError
from glocal.core.logging import get_logger
from glocal.features.schema import BASELINE_PREFIX
from glocal.models.estimators import LIGHTGBM
from glocal.models.folds import Fold
from glocal.models.frames import ENTITY_COLUMN, TIME_COLUMN, check_target
from glocal.models.global_model import GlobalModel, concurrent_lightgbm
from glocal.models.losses import clustered_comparison, row_loss

__all__ = ["STAGE_FILE", "Component", "GlobalStage", "baseline_columns"]

STAGE_FILE = "stage.json"
"""The stage's description inside its directory; each member learner sits in ``member_<i>/``."""

FloatArray = npt.NDArray[np.float64]

_LEVEL = 0.05
"""Level of the component tests (entity id, confidence set), before multiplicity."""

_log = get_logger("models.global_stage")

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def _parallel_map(
    work: Callable[[_Item], _Result], items: Iterable[_Item], workers: int
) -> list[_Result]:
    """Return ``[work(item) for item in items]``, run on up to ``workers`` threads.

    LightGBM trains inside its C library with the interpreter released, so independent
    learners fitted on threads share the cores; each keeps its own ``n_jobs``, and its
    numbers do not depend on what runs beside it. The threads run inside
    :func:`~glocal.models.global_model.concurrent_lightgbm`, which keeps every LightGBM
    call on one thread count (LightGBM crashes when concurrent calls use different ones).
    """
    jobs = list(items)
    count = _workers(workers)
    if count <= 1 or len(jobs) <= 1:
        return [work(item) for item in jobs]
    with concurrent_lightgbm(), ThreadPoolExecutor(max_workers=min(count, len(jobs))) as pool:
        return list(pool.map(work, jobs))


def _workers(setting: int) -> int:
    """Return the threads ``fit_workers`` asks for (-1: one per core)."""
    return (os.cpu_count() or 1) if setting == -1 else setting


def _weighted(predictions: Sequence[FloatArray], weights: Sequence[float]) -> FloatArray:
    """Return the weighted sum of member predictions (weights sum to 1)."""
    total = np.zeros(len(predictions[0]))
    for weight, prediction in zip(weights, predictions, strict=True):
        total += weight * np.asarray(prediction, dtype=np.float64)
    return total


def baseline_columns(columns: Sequence[str]) -> list[str]:
    """Return the ``baseline_*`` columns among ``columns``, in order."""
    return [str(c) for c in columns if str(c).startswith(BASELINE_PREFIX)]


@dataclass(frozen=True)
class Component:
    """One global forecast: a learner (on an optional offset) or a baseline column."""

    name: str
    learner: bool
    column: str | None = None

    def describe(self) -> str:
        """Return a one-line description for reports."""
        if not self.learner:
            return f"the panel's {self.column} forecast"
        if self.column is None:
            return "the global learner on the target"
        return f"the global learner correcting {self.column}"


@dataclass
class _Fitted:
    """A learner component's fold models and out-of-fold predictions."""

    component: Component
    fold_models: list[GlobalModel]
    validation: list[FloatArray]
    final: GlobalModel | None = None
    """The most recent fold's model refitted on the whole history, when fitted ahead."""


def _ensemble_weights(losses: Sequence[float], settings: GlobalModelSettings) -> list[float]:
    """Return weights ``(best / loss) ** sharpness``, normalised (equal when sharpness is 0)."""
    values = np.asarray(losses, dtype=np.float64)
    best = float(values.min())
    if best <= 0:  # a perfect component: it takes everything it shares the minimum with
        raw = (values <= best).astype(np.float64)
    else:
        raw = (best / values) ** settings.ensemble_sharpness
    return [float(w) for w in raw / raw.sum()]


def _learner_components(settings: GlobalModelSettings, columns: Sequence[str]) -> list[Component]:
    components = []
    for name in settings.offsets:
        if name == "none":
            components.append(Component("learner", True, None))
            continue
        column = f"{BASELINE_PREFIX}{name}"
        if column in columns:
            components.append(Component(f"learner+{name}", True, column))
        else:
            _log.info("global_model.offsets: the panel has no column %s; skipped", column)
    if not components:
        raise ModelError(
            f"global_model.offsets {settings.offsets} leave no learner: the panel has none of "
            f"their baseline columns ({', '.join(baseline_columns(columns)) or 'none'}). "
            "Add 'none' to global_model.offsets, or build the panel from transactions."
        )
    return components


class GlobalStage:
    """Global components fitted per fold and combined by their out-of-time performance.

    Args:
        settings: The ``global_model`` settings section.
        objective: The loss to minimise.
        seed: Seed of the learners.

    Attributes:
        components_: Every component that was evaluated.
        members_: Names of the components the stage averages.
        weights_: Their weights (summing to 1), in the order of ``members_``.
        models_: Final learner of each member learner, by name.
        uses_entity_: Whether the learners got the entity id as a feature.
        fold_train_: Per fold, the stage's in-sample prediction of the fold's training rows.
        fold_validation_: Per fold, its out-of-time prediction of the fold's validation rows.
        history_prediction_: The final stage's prediction of every history row.
        report_: What was compared and decided, for ``metrics.json``.

    """

    def __init__(
        self,
        settings: GlobalModelSettings | None = None,
        *,
        objective: Objective = "mse",
        seed: int = 42,
    ) -> None:
        self.settings = settings
        self.objective = objective
        self.seed = seed

    # -- fitting ------------------------------------------------------------------------
    def _fit_learner(
        self,
        component: Component,
        history: pd.DataFrame,
        folds: Sequence[Fold],
        features: list[str],
        categorical: list[str],
    ) -> _Fitted:
        """Fit ``component`` on the most recent fold, early-stopped on its validation rows.

        The other folds reuse that size (:meth:`_refit_one`).
        """
        settings = (self.settings or GlobalModelSettings()).model_copy(
            update={"refit_on_validation": False}
        )
        cutoffs = history[TIME_COLUMN]
        fold = folds[0]
        model = GlobalModel(
            settings, seed=self.seed, objective=self.objective, offset=component.column
        ).fit(
            history.loc[fold.train_mask(cutoffs)],
            history.loc[fold.validation_mask(cutoffs)],
            features,
            categorical,
        )
        return _Fitted(
            component, [model], [model.predict(history.loc[fold.validation_mask(cutoffs)])]
        )

    def _refit_one(
        self, fitted: _Fitted, index: int | None, history: pd.DataFrame, folds: Sequence[Fold]
    ) -> tuple[GlobalModel, FloatArray | None]:
        """Refit ``fitted``'s most recent fold model on one fold's training rows.

        It then predicts the fold's validation rows; ``index`` None refits on the whole
        history instead.
        """
        recent = fitted.fold_models[0]
        if index is None:
            return recent.refit(history), None
        cutoffs = history[TIME_COLUMN]
        model = recent.refit(history.loc[folds[index].train_mask(cutoffs)])
        return model, model.predict(history.loc[folds[index].validation_mask(cutoffs)])

    def _refit_all(
        self, learners: Sequence[_Fitted], history: pd.DataFrame, folds: Sequence[Fold]
    ) -> list[tuple[_Fitted, int | None]]:
        """Return the refits ``learners`` still need, as ``(learner, fold index)`` jobs.

        Their missing folds, then (with several threads) the final refit on the whole
        history (index None), fitted ahead so that no last round leaves threads idle; a
        learner the confidence set leaves out (rarely) wastes it.
        """
        settings = self.settings or GlobalModelSettings()
        ahead = settings.refit_on_validation and _workers(settings.fit_workers) > 1
        jobs: list[tuple[_Fitted, int | None]] = []
        for fitted in learners:
            jobs += [(fitted, index) for index in range(len(fitted.fold_models), len(folds))]
            if ahead:
                jobs.append((fitted, None))
        return jobs

    @staticmethod
    def _store(jobs: Sequence[tuple[_Fitted, int | None]], results: Sequence[Any]) -> None:
        """Put refits into their learners, in fold order (the jobs are in fold order)."""
        for (fitted, index), (model, validation) in zip(jobs, results, strict=True):
            if index is None:
                fitted.final = model
            else:
                fitted.fold_models.append(model)
                fitted.validation.append(validation)

    def _fit_remaining(
        self,
        first: _Fitted,
        components: Sequence[Component],
        history: pd.DataFrame,
        folds: Sequence[Fold],
        features: list[str],
        categorical: list[str],
    ) -> list[_Fitted]:
        """Complete ``first`` and fit ``components`` on every fold, as small balanced jobs.

        Round one: the other learners' early-stopped fits on the most recent fold beside
        ``first``'s remaining refits; round two: their refits. Each job is one LightGBM
        fit, so two threads stay busy until the end of each round.
        """
        settings = self.settings or GlobalModelSettings()
        first_jobs = self._refit_all([first], history, folds)
        round_one: list[Callable[[], Any]] = [
            functools.partial(self._fit_learner, component, history, folds, features, categorical)
            for component in components
        ]
        round_one += [
            functools.partial(self._refit_one, fitted, index, history, folds)
            for fitted, index in first_jobs
        ]
        results = _parallel_map(lambda job: job(), round_one, settings.fit_workers)
        others: list[_Fitted] = list(results[: len(components)])
        self._store(first_jobs, results[len(components) :])
        later_jobs = self._refit_all(others, history, folds)
        refits = _parallel_map(
            lambda job: self._refit_one(job[0], job[1], history, folds),
            later_jobs,
            settings.fit_workers,
        )
        self._store(later_jobs, refits)
        return [first, *others]

    def _baseline_predictions(
        self, component: Component, history: pd.DataFrame, folds: Sequence[Fold]
    ) -> list[FloatArray]:
        cutoffs = history[TIME_COLUMN]
        column = str(component.column)
        return [
            history.loc[fold.validation_mask(cutoffs), column].to_numpy(dtype=np.float64)
            for fold in folds
        ]

    def _decide_entity_feature(
        self,
        component: Component,
        history: pd.DataFrame,
        folds: Sequence[Fold],
        features: list[str],
        categorical: list[str],
        target: FloatArray,
        codes: npt.NDArray[np.intp],
    ) -> tuple[bool, _Fitted, dict[str, Any]]:
        """Return whether the learners get the entity id, ``component`` fitted, and why.

        The returned learner may be fitted on the most recent fold only; :meth:`fit`
        completes it beside the other learners.
        """
        settings = self.settings or GlobalModelSettings()
        choice = settings.entity_feature
        if settings.estimator != LIGHTGBM or choice is False:
            plain = self._fit_learner(component, history, folds, features, categorical)
            return False, plain, {"entity_feature": False, "reason": "off"}
        entity_features = [*features, ENTITY_COLUMN]
        entity_categorical = [*categorical, ENTITY_COLUMN]
        if choice is True:
            with_entity = self._fit_learner(
                component, history, folds, entity_features, entity_categorical
            )
            return True, with_entity, {"entity_feature": True, "reason": "on"}
        # both on the most recent fold; the one with the entity id goes on to the other
        # folds only if it wins there
        plain, with_entity = _parallel_map(
            lambda job: self._fit_learner(component, history, folds, *job),
            [(features, categorical), (entity_features, entity_categorical)],
            settings.fit_workers,
        )
        recent = len(plain.validation[0])
        loss_plain = row_loss(target[:recent], plain.validation[0], self.objective).mean()
        loss_entity = row_loss(target[:recent], with_entity.validation[0], self.objective).mean()
        if not loss_entity < loss_plain:
            return (
                False,
                plain,
                {
                    "entity_feature": False,
                    "reason": "not better on the most recent fold",
                    "recent_fold_loss": {"plain": float(loss_plain), "entity": float(loss_entity)},
                },
            )
        jobs = [
            (fitted, index) for fitted in (plain, with_entity) for index in range(1, len(folds))
        ]
        refits = _parallel_map(
            lambda job: self._refit_one(job[0], job[1], history, folds), jobs, settings.fit_workers
        )
        self._store(jobs, refits)
        loss_plain_all = row_loss(target, np.concatenate(plain.validation), self.objective)
        loss_entity_all = row_loss(target, np.concatenate(with_entity.validation), self.objective)
        comparison = clustered_comparison(loss_entity_all, loss_plain_all, codes)
        use = comparison.p_value < _LEVEL
        report = {
            "entity_feature": bool(use),
            "reason": "significantly better on the folds" if use else "not significantly better",
            "gain": comparison.gain,
            "z": comparison.z,
            "p_value": comparison.p_value,
            "recent_fold_loss": {"plain": float(loss_plain), "entity": float(loss_entity)},
        }
        return bool(use), with_entity if use else plain, report

    def fit(
        self,
        history: pd.DataFrame,
        folds: Sequence[Fold],
        features: Sequence[str],
        categorical: Sequence[str],
    ) -> GlobalStage:
        """Fit every component on every fold, choose the members, refit them on ``history``.

        Args:
            history: Panel rows sorted by entity and cutoff, every target known.
            folds: Validation folds inside ``history`` (see :mod:`glocal.models.folds`).
            features: Features of the learners (the entity id is added if it helps).
            categorical: Categorical features among them.

        """
        settings = self.settings or GlobalModelSettings()
        features, categorical = list(features), list(categorical)
        cutoffs = history[TIME_COLUMN]
        masks = [fold.validation_mask(cutoffs) for fold in folds]
        y_all = check_target(history, "training")
        target = np.concatenate([y_all[mask] for mask in masks])
        entity_codes, _ = pd.factorize(history[ENTITY_COLUMN])
        codes = np.concatenate([entity_codes[mask] for mask in masks])

        learners = _learner_components(settings, list(history.columns))
        use_entity, first, entity_report = self._decide_entity_feature(
            learners[0], history, folds, features, categorical, target, codes
        )
        self.uses_entity_ = use_entity
        if use_entity:
            features, categorical = [*features, ENTITY_COLUMN], [*categorical, ENTITY_COLUMN]
        self.learner_features_, self.learner_categorical_ = features, categorical
        done = self._fit_remaining(first, learners[1:], history, folds, features, categorical)
        fitted = {f.component.name: f for f in done}
        baselines = []
        if settings.ensemble_baselines:
            baselines = [
                Component(column.removeprefix(BASELINE_PREFIX), False, column)
                for column in baseline_columns(list(history.columns))
            ]
        self.components_ = [c.component for c in fitted.values()] + baselines
        validation = {name: np.concatenate(f.validation) for name, f in fitted.items()}
        for component in baselines:
            validation[component.name] = np.concatenate(
                self._baseline_predictions(component, history, folds)
            )
        self.members_, self.weights_, set_report = self._confidence_set(validation, target, codes)
        self._fitted_folds = fitted
        self._combine_folds(history, folds, masks, fitted)
        self._refit_members(history, fitted)
        self.report_ = {
            "components": {c.name: c.describe() for c in self.components_},
            "entity_feature": entity_report,
            **set_report,
            "members": list(self.members_),
            "learner_iterations": {
                name: f.fold_models[0].best_iteration_ for name, f in fitted.items()
            },
        }
        del self._fitted_folds
        return self

    def _confidence_set(
        self, validation: dict[str, FloatArray], target: FloatArray, codes: npt.NDArray[np.intp]
    ) -> tuple[list[str], list[float], dict[str, Any]]:
        """Return the members, their weights and what was compared.

        Members: every component not significantly worse than the best; weights
        ``(best loss / loss) ** sharpness``, normalised.
        """
        settings = self.settings or GlobalModelSettings()
        losses = {name: row_loss(target, p, self.objective) for name, p in validation.items()}
        pooled = {name: float(loss.mean()) for name, loss in losses.items()}
        best = min(pooled, key=lambda name: pooled[name])
        comparisons: dict[str, dict[str, float]] = {}
        members = [best]
        others = [name for name in losses if name != best]
        for name in others:
            comparison = clustered_comparison(losses[best], losses[name], codes)
            comparisons[name] = {"gain_of_best": comparison.gain, "p_value": comparison.p_value}
            if comparison.p_value >= _LEVEL / max(len(others), 1):
                members.append(name)
        weights = _ensemble_weights([pooled[name] for name in members], settings)
        ensemble = np.sum([w * validation[n] for w, n in zip(weights, members, strict=True)], 0)
        ensemble_loss = row_loss(target, ensemble, self.objective)
        # the average is the robust default; the best alone replaces it only on evidence
        versus = clustered_comparison(losses[best], ensemble_loss, codes)
        report = {
            "validation_loss": pooled,
            "best": best,
            "compared_with_best": comparisons,
            "ensemble_validation_loss": float(ensemble_loss.mean()),
            "best_versus_ensemble": {"gain": versus.gain, "p_value": versus.p_value},
        }
        if settings.ensemble == "best" or versus.p_value < _LEVEL:
            members, weights = [best], [1.0]
        report["weights"] = dict(zip(members, weights, strict=True))
        return members, weights, report

    def _combine_folds(
        self,
        history: pd.DataFrame,
        folds: Sequence[Fold],
        masks: Sequence[npt.NDArray[np.bool_]],
        fitted: dict[str, _Fitted],
    ) -> None:
        """Store the members' mean on each fold's training and validation rows."""
        cutoffs = history[TIME_COLUMN]
        self.fold_train_: list[FloatArray] = []
        self.fold_validation_: list[FloatArray] = []
        for index, fold in enumerate(folds):
            train = history.loc[fold.train_mask(cutoffs)]
            parts_train, parts_validation = [], []
            for name in self.members_:
                if name in fitted:
                    parts_train.append(fitted[name].fold_models[index].predict(train))
                    parts_validation.append(fitted[name].validation[index])
                else:
                    column = self._column(name)
                    parts_train.append(train[column].to_numpy(dtype=np.float64))
                    parts_validation.append(
                        history.loc[masks[index], column].to_numpy(dtype=np.float64)
                    )
            self.fold_train_.append(_weighted(parts_train, self.weights_))
            self.fold_validation_.append(_weighted(parts_validation, self.weights_))

    def _column(self, name: str) -> str:
        for component in self.components_:
            if component.name == name and component.column is not None:
                return component.column
        raise ModelError(f"global component {name!r} has no column.")

    def _refit_members(self, history: pd.DataFrame, fitted: dict[str, _Fitted]) -> None:
        settings = self.settings or GlobalModelSettings()
        learners = [name for name in self.members_ if name in fitted]

        def final(name: str) -> GlobalModel:
            ahead = fitted[name].final
            if ahead is not None:
                return ahead
            recent = fitted[name].fold_models[0]
            return recent.refit(history) if settings.refit_on_validation else recent

        recent = _parallel_map(final, learners, settings.fit_workers)
        self.models_: dict[str, GlobalModel] = dict(zip(learners, recent, strict=True))
        self.history_prediction_ = self.predict(history)

    def refresh(self, history: pd.DataFrame) -> GlobalStage:
        """Return a copy whose member learners are refitted on ``history``, nothing re-chosen.

        The members, their weights, their sizes (early-stopped trees), features and the
        entity-id choice stay; each learner is trained again on ``history`` (e.g. a week
        more of data) with this stage's settings. This is the weekly retraining between
        two full fits, which re-choose all of them on validation folds.

        Raises:
            NotFittedError: The stage is not fitted.

        """
        self._check_fitted()
        settings = self.settings or GlobalModelSettings()
        names = list(self.models_)

        def refit(name: str) -> GlobalModel:
            member = copy.copy(self.models_[name])
            member.settings = settings  # a loaded learner knows only its estimator's name
            return member.refit(history)

        fresh = copy.copy(self)
        for stale in ("fold_train_", "fold_validation_", "history_prediction_"):
            fresh.__dict__.pop(stale, None)  # they describe the fit being refreshed
        models = _parallel_map(refit, names, settings.fit_workers)
        fresh.models_ = dict(zip(names, models, strict=True))
        fresh.report_ = {**self.report_, "refreshed_rows": len(history)}
        return fresh

    # -- prediction ---------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise NotFittedError("this GlobalStage is not fitted yet; call fit() first.")

    def member_predictions(self, frame: pd.DataFrame) -> dict[str, FloatArray]:
        """Return each member's prediction of every row of ``frame``."""
        self._check_fitted()
        predictions: dict[str, FloatArray] = {}
        for name in self.members_:
            if name in self.models_:
                predictions[name] = self.models_[name].predict(frame)
            else:
                column = self._column(name)
                if column not in frame.columns:
                    raise ModelError(
                        f"column {column!r} is missing from the prediction frame; the global "
                        "stage averages it. Score the same panel columns it was fitted on."
                    )
                predictions[name] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        return predictions

    def predict(self, frame: pd.DataFrame) -> FloatArray:
        """Return the stage's prediction: the weighted mean of its members' predictions."""
        return _weighted(list(self.member_predictions(frame).values()), self.weights_)

    # -- persistence --------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the stage: ``stage.json`` and one LightGBM text model per member learner.

        Member directories are numbered (``member_0``, ...): names from settings or panel
        columns never become paths.
        """
        self._check_fitted()
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        learners = []
        for index, name in enumerate(self.members_):
            if name in self.models_:
                self.models_[name].save(target / f"member_{index}")
                learners.append(index)
        meta = {
            "objective": self.objective,
            "seed": self.seed,
            "members": list(self.members_),
            "weights": list(self.weights_),
            "learner_members": learners,
            "components": [asdict(c) for c in self.components_],
            "uses_entity": bool(self.uses_entity_),
            "learner_features": list(self.learner_features_),
            "learner_categorical": list(self.learner_categorical_),
            "report": self.report_,
        }
        text = json.dumps(meta, indent=2, sort_keys=True, default=float) + "\n"
        (target / STAGE_FILE).write_text(text, encoding="utf-8")
        return target

    @classmethod
    def load(
        cls, directory: str | Path, settings: GlobalModelSettings | None = None
    ) -> GlobalStage:
        """Read a stage written by :meth:`save`; it predicts exactly as saved.

        Raises:
            ModelError: A file is missing or unreadable.

        """
        source = Path(directory)
        try:
            meta = json.loads((source / STAGE_FILE).read_text(encoding="utf-8"))
            stage = cls(settings, objective=meta["objective"], seed=int(meta["seed"]))
            stage.members_ = [str(name) for name in meta["members"]]
            stage.weights_ = [float(weight) for weight in meta["weights"]]
            stage.components_ = [Component(**c) for c in meta["components"]]
            stage.uses_entity_ = bool(meta["uses_entity"])
            stage.learner_features_ = list(meta["learner_features"])
            stage.learner_categorical_ = list(meta["learner_categorical"])
            stage.report_ = dict(meta["report"])
            stage.models_ = {
                stage.members_[index]: GlobalModel.load(source / f"member_{index}")
                for index in meta["learner_members"]
            }
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ModelError(f"cannot load the global stage from {source}: {exc}") from exc
        return stage
