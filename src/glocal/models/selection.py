"""Guarded per-entity choice between the global model and local candidates.

The choice is made on the pooled out-of-time validation rows of every fold. For each
entity, the candidate with the largest mean loss reduction is compared with the global
model by a one-sided paired test on the per-row loss differences
``d = loss(y, global) - loss(y, candidate)`` (squared or absolute errors):

* **Dependence.** The variance of the mean of ``d`` includes Newey-West (Bartlett)
  autocovariances within each fold, for targets whose windows overlap in time, and the
  degrees of freedom count independent windows, not rows.
* **No variance from a quiet block.** The variance is floored by what the entity's target
  could do: ``d = (c - g)(2(y - c) + (c - g))`` under squared error, so its variance is
  ``4 (c - g)^2 Var(y - c)``, with ``Var(y - c)`` taken as the variance of the
  candidate's residuals over the entity's *training* history (in sample), shrunk toward
  that of entities at the same prediction level. A customer who bought nothing for eight
  weeks still gets the variance of the purchases they made before.
* **Evidence needed.** An entity with fewer than ``min_validation_rows`` validation rows,
  or fewer than ``min_nonzero_rows`` non-zero targets among them, stays global.
* **Multiplicity.** The best of ``k`` candidates is tested, so its p-value is multiplied
  by ``k``; across entities, p-values are thresholded with Benjamini-Hochberg (or
  Bonferroni, or none).
* **Measured, not assumed.** :func:`glocal.models.guard.guard_level` checks the choices
  against data they were not made on: for every fold, entities are decided on the *other*
  folds and scored on this one, for a ladder of levels from ``significance`` down (each
  half the previous).
  The level whose switches improve the pooled held-out loss most (in total, in most folds,
  and significantly when clustered by entity) is kept; if no level does, every entity
  stays global.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from glocal.config.models import Objective, SelectionSettings
from glocal.core.errors import ModelError
from glocal.models.decisions import DECISION_COLUMNS
from glocal.models.frames import ENTITY_COLUMN, entity_positions
from glocal.models.losses import row_loss
from glocal.models.residual_variance import grouped_mean, shrunk_residual_variance

__all__ = [
    "DECISION_COLUMNS",
    "Candidate",
    "Evidence",
    "Reason",
    "select_per_entity",
    "shrunk_residual_variance",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Reason(StrEnum):
    """Why an entity got its decision."""

    TOO_FEW_ROWS = "TOO_FEW_ROWS"
    TOO_FEW_VALIDATION_ROWS = "TOO_FEW_VALIDATION_ROWS"
    TOO_FEW_NONZERO = "TOO_FEW_NONZERO"
    LOCAL_WORSE = "LOCAL_WORSE"
    NOT_SIGNIFICANT = "NOT_SIGNIFICANT"
    GUARD = "GUARD"
    LOCAL_BETTER = "LOCAL_BETTER"
    BLEND_BETTER = "BLEND_BETTER"
    DEMOTED = "DEMOTED"
    """Live monitoring found its local model worse than global (``glocal monitor``)."""


@dataclass(frozen=True)
class Candidate:
    """One per-entity alternative to the global model, predicted on the validation rows.

    Attributes:
        name: Name recorded in the decisions, e.g. ``"residual"`` or ``"residual+blend"``.
        decision: ``"local"`` or ``"blend"``: what the entity's decision is if it wins.
        prediction: Per validation row; NaN where the entity has no such model.
        weight: Per validation row blend weight (constant within an entity); ``None``
            means 1.
        variance: Per validation row, the variance of the candidate's residuals over the
            entity's training rows (the variance floor, see the module docstring); ``None``
            uses the variance of its residuals on the validation rows themselves, shrunk
            toward its peers'.

    """

    name: str
    decision: Literal["local", "blend"]
    prediction: FloatArray
    weight: FloatArray | None = None
    variance: FloatArray | None = None


@dataclass(frozen=True)
class Evidence:
    """The validation rows the choice is made on, and how to judge them.

    Attributes:
        entity_ids: Entity of each row; an entity's rows contiguous and in time order.
        target: Target of each row.
        global_prediction: Out-of-time global prediction of each row.
        candidates: The local candidates' predictions of each row.
        fold: Validation fold of each row (``None``: one fold).
        objective: ``"mse"`` or ``"mae"``.
        lags: Newey-West lags (targets overlapping in time).
        prior_rows: Weight, in rows, of the peers' variance in each variance floor.

    """

    entity_ids: npt.ArrayLike
    target: npt.ArrayLike
    global_prediction: npt.ArrayLike
    candidates: Sequence[Candidate]
    fold: npt.ArrayLike | None = None
    objective: Objective = "mse"
    lags: int = 0
    prior_rows: float = 10.0


# -- statistics ---------------------------------------------------------------------------
def _newey_west_variance(
    codes: IntArray, fold: IntArray, centered: FloatArray, counts: FloatArray, lags: int
) -> FloatArray:
    """Return the variance of each entity's rows around their mean, with Bartlett lags."""
    variance = grouped_mean(codes, centered**2, counts)
    for lag in range(1, lags + 1):
        same = (codes[lag:] == codes[:-lag]) & (fold[lag:] == fold[:-lag])
        product = np.where(same, centered[lag:] * centered[:-lag], 0.0)
        autocovariance = grouped_mean(codes[lag:], product, counts)
        variance += 2.0 * (1.0 - lag / (lags + 1.0)) * autocovariance
    return np.maximum(variance, 0.0)


@dataclass(frozen=True)
class _Rows:
    """Evidence rows mapped to entity codes (rows of unknown entities dropped)."""

    codes: IntArray
    fold: IntArray
    target: FloatArray
    global_prediction: FloatArray
    predictions: list[FloatArray]
    weights: list[FloatArray | None]
    variances: list[FloatArray]  # per candidate, per row: the floor's Var(y - c)
    n_entities: int


def _rows(evidence: Evidence, entities: pd.Index) -> _Rows:
    codes = entity_positions(evidence.entity_ids, entities)
    y = np.asarray(evidence.target, dtype=np.float64)
    g = np.asarray(evidence.global_prediction, dtype=np.float64)
    fold = (
        np.zeros(len(y), dtype=np.int64)
        if evidence.fold is None
        else np.asarray(evidence.fold, dtype=np.int64)
    )
    lengths = {len(codes), len(y), len(g), len(fold)}
    lengths |= {len(c.prediction) for c in evidence.candidates}
    if len(lengths) > 1:
        raise ModelError("entity_ids, target, global_prediction and candidates differ in length.")
    seen = codes >= 0
    everyone = bool(seen.all())

    def kept(values: npt.ArrayLike) -> FloatArray:
        array = np.asarray(values, dtype=np.float64)
        return array if everyone else array[seen]

    ids = np.asarray(evidence.entity_ids)
    if not everyone:
        ids, codes, fold = ids[seen], codes[seen], fold[seen]
    y = kept(y)
    variances = []
    for candidate in evidence.candidates:
        given = None if candidate.variance is None else kept(candidate.variance)
        if given is not None and np.isfinite(given).all():
            variances.append(given)  # every row has its floor: no fallback needed
            continue
        prediction = kept(candidate.prediction)
        own = shrunk_residual_variance(ids, y, prediction, evidence.prior_rows)
        fallback = own.reindex(entities).to_numpy(dtype=np.float64, na_value=np.nan)
        fallback = np.nan_to_num(fallback[codes])
        if given is not None:
            fallback = np.where(np.isfinite(given), given, fallback)
        variances.append(fallback)
    return _Rows(
        codes=codes,
        fold=fold,
        target=y,
        global_prediction=kept(g),
        predictions=[kept(c.prediction) for c in evidence.candidates],
        weights=[None if c.weight is None else kept(c.weight) for c in evidence.candidates],
        variances=variances,
        n_entities=len(entities),
    )


@dataclass(frozen=True)
class _Best:
    """Per entity: its best candidate on the given rows and the test of it."""

    index: IntArray
    gain: FloatArray
    loss_global: FloatArray
    p_value: FloatArray
    available: FloatArray
    counts: FloatArray
    nonzero: FloatArray


def _best_candidates(
    rows: _Rows, use: npt.NDArray[np.bool_], objective: Objective, lags: int
) -> _Best:
    """Find each entity's best candidate on the rows ``use`` and test it against global."""
    everyone = bool(use.all())  # the final choice: every row, and no copies of them

    def part(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if everyone else values[use]

    codes, fold = part(rows.codes), part(rows.fold)
    y, g = part(rows.target), part(rows.global_prediction)
    n = rows.n_entities
    counts = np.bincount(codes, minlength=n).astype(np.float64)
    nonzero = np.bincount(codes, y != 0, n).astype(np.float64)
    loss_global = row_loss(y, g, objective)
    mean_global = grouped_mean(codes, loss_global, counts)
    # overlapping target windows: L + 1 consecutive rows carry about one window's news
    n_eff = counts / (lags + 1.0) + 1.0
    best_gain = np.full(n, -np.inf)
    best_statistic = np.zeros(n)
    best_df = np.ones(n)
    best_degenerate = np.zeros(n, dtype=bool)
    best_index = np.full(n, -1, dtype=np.int64)
    n_available = np.zeros(n)
    for index, full_prediction in enumerate(rows.predictions):
        prediction = part(full_prediction)
        missing = np.bincount(codes, np.isnan(prediction), n) > 0
        available = (counts > 0) & ~missing
        c = np.nan_to_num(prediction)  # a copy: the evidence is never written to
        # in place where a temporary would do (the same operations, so the same numbers):
        # this pass over every row of every candidate sets the fit's peak memory
        difference = row_loss(y, c, objective)
        np.subtract(loss_global, difference, out=difference)
        gain = grouped_mean(codes, difference, counts)
        centered = gain[codes]
        np.subtract(difference, centered, out=centered)
        del difference
        empirical = _newey_west_variance(codes, fold, centered, counts, lags)
        del centered
        spread = np.subtract(c, g)
        del c
        np.multiply(spread, spread, out=spread)
        variance_y = part(rows.variances[index])
        if objective == "mae":
            per_row = spread * variance_y / (variance_y + spread / 4.0 + 1e-300)
        else:
            np.multiply(spread, 4.0, out=spread)
            per_row = np.multiply(spread, variance_y, out=spread)
        floor = grouped_mean(codes, per_row, counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            # the Newey-West variance is already a long-run variance; the floor is a
            # per-row variance, so it is spread over independent windows, not rows
            variance_of_mean = np.maximum(empirical / counts, floor / n_eff)
            standard_error = np.sqrt(variance_of_mean)
            statistic = gain / standard_error
        better = available & (gain > best_gain)
        best_gain[better], best_index[better] = gain[better], index
        best_statistic[better] = statistic[better]
        best_df[better] = np.maximum(n_eff[better] - 1.0, 1.0)
        best_degenerate[better] = ~(standard_error[better] > 0)
        n_available += available
    # the t tail, the costly part, once per entity: of its best candidate's statistic
    tested = best_index >= 0
    best_p = np.ones(n)
    best_p[tested] = stats.t.sf(best_statistic[tested], df=best_df[tested])
    degenerate = tested & best_degenerate
    best_p[degenerate] = np.where(best_gain[degenerate] > 0, 0.0, 1.0)
    return _Best(best_index, best_gain, mean_global, best_p, n_available, counts, nonzero)


class _Rejection:
    """One set of p-values, ready to be tested at many levels (sorted once for BH)."""

    def __init__(self, p_values: FloatArray, method: str) -> None:
        self.p_values = p_values
        self.method = method
        self.order: IntArray | None = None
        self.sorted: FloatArray | None = None
        if method not in ("none", "bonferroni") and len(p_values):
            self.order = np.argsort(p_values, kind="stable")
            self.sorted = p_values[self.order]

    def at(self, level: float) -> npt.NDArray[np.bool_]:
        """Return which hypotheses are rejected at ``level``."""
        m = len(self.p_values)
        if m == 0 or level <= 0:
            return np.zeros(m, dtype=bool)
        if self.method == "none":
            return self.p_values <= level
        if self.method == "bonferroni":
            return self.p_values <= level / m
        assert self.order is not None and self.sorted is not None
        passed = self.sorted <= level * np.arange(1, m + 1) / m
        rejected = np.zeros(m, dtype=bool)
        if passed.any():
            rejected[self.order[: np.flatnonzero(passed)[-1] + 1]] = True
        return rejected


@dataclass(frozen=True)
class _Choice:
    reason: npt.NDArray[np.object_]
    chosen: npt.NDArray[np.bool_]
    tested: npt.NDArray[np.bool_]
    adjusted: FloatArray


@dataclass(frozen=True)
class _Screen:
    """What an entity's choice owes to its rows, not to the test level.

    Of the ``tested`` entities that are not ``worse`` than global on their rows, the level
    decides which are chosen (:meth:`chosen`), through one multiple-testing pass over every
    tested entity's ``adjusted`` p-value, sorted once for all levels.
    """

    too_few_train: npt.NDArray[np.bool_]
    too_few_val: npt.NDArray[np.bool_]
    no_candidate: npt.NDArray[np.bool_]
    quiet: npt.NDArray[np.bool_]
    tested: npt.NDArray[np.bool_]
    worse: npt.NDArray[np.bool_]
    adjusted: FloatArray
    rejection: _Rejection

    def chosen(self, level: float) -> npt.NDArray[np.bool_]:
        """Return the entities that leave global at ``level``."""
        significant = np.zeros(len(self.tested), dtype=bool)
        significant[self.tested] = self.rejection.at(level)
        chosen: npt.NDArray[np.bool_] = self.tested & ~self.worse & significant
        return chosen


def _screen(
    best: _Best, n_train_rows: IntArray, min_train_rows: int, settings: SelectionSettings
) -> _Screen:
    too_few_train = n_train_rows < min_train_rows
    too_few_val = ~too_few_train & (best.counts < settings.min_validation_rows)
    no_candidate = ~too_few_train & ~too_few_val & (best.index < 0)
    quiet = (
        ~too_few_train & ~too_few_val & ~no_candidate & (best.nonzero < settings.min_nonzero_rows)
    )
    tested = ~too_few_train & ~too_few_val & ~no_candidate & ~quiet
    # the best of k candidates was tested: Bonferroni within the entity
    adjusted = np.minimum(1.0, best.p_value * np.maximum(best.available, 1.0))
    worse = tested & ~(best.gain > 0)
    rejection = _Rejection(adjusted[tested], settings.multiple_testing)
    return _Screen(
        too_few_train, too_few_val, no_candidate, quiet, tested, worse, adjusted, rejection
    )


def _choose(
    best: _Best,
    n_train_rows: IntArray,
    min_train_rows: int,
    settings: SelectionSettings,
    level: float,
) -> _Choice:
    screen = _screen(best, n_train_rows, min_train_rows, settings)
    reason = np.full(len(best.index), Reason.NOT_SIGNIFICANT.value, dtype=object)
    reason[screen.too_few_train | screen.no_candidate] = Reason.TOO_FEW_ROWS.value
    reason[screen.too_few_val] = Reason.TOO_FEW_VALIDATION_ROWS.value
    reason[screen.quiet] = Reason.TOO_FEW_NONZERO.value
    reason[screen.worse] = Reason.LOCAL_WORSE.value
    return _Choice(reason, screen.chosen(level), screen.tested, screen.adjusted)


def _decisions(
    rows: _Rows,
    best: _Best,
    choice: _Choice,
    candidates: Sequence[Candidate],
    entities: pd.Index,
    weight: pd.Series | None,
) -> tuple[npt.NDArray[np.object_], FloatArray]:
    """Return each entity's decision and blend weight, and mark the reasons of the chosen."""
    decision = np.full(rows.n_entities, "global", dtype=object)
    weights = np.zeros(rows.n_entities)
    for index, candidate in enumerate(candidates):
        mine = choice.chosen & (best.index == index)
        decision[mine] = candidate.decision
        choice.reason[mine] = (
            Reason.BLEND_BETTER.value
            if candidate.decision == "blend"
            else Reason.LOCAL_BETTER.value
        )
        own = rows.weights[index]
        if own is None:
            weights[mine] = 1.0
        elif weight is not None:
            weights[mine] = weight.reindex(entities).to_numpy(dtype=np.float64)[mine]
        else:
            weights[mine] = grouped_mean(rows.codes, own, best.counts)[mine]
    return decision, weights


def select_per_entity(
    entity_ids: npt.ArrayLike,
    target: npt.ArrayLike,
    global_prediction: npt.ArrayLike,
    candidates: Sequence[Candidate],
    n_train: pd.Series,
    settings: SelectionSettings | None = None,
    *,
    min_train_rows: int = 1,
    fold: npt.ArrayLike | None = None,
    objective: Objective = "mse",
    lags: int | None = None,
    level: float | None = None,
    weight: pd.Series | None = None,
) -> pd.DataFrame:
    """Decide, per entity, between the global model and its best local candidate.

    Args:
        entity_ids: Entity of each validation row; an entity's rows must be contiguous and
            in time order (within each fold) for the Newey-West lags.
        target: Target of each validation row.
        global_prediction: Out-of-time global prediction of each validation row.
        candidates: Local candidates with their validation predictions.
        n_train: Training rows per entity, indexed by entity id: the entities to decide.
        settings: Guardrails; defaults to :class:`SelectionSettings` defaults.
        min_train_rows: Entities with fewer training rows stay global (TOO_FEW_ROWS).
        fold: Validation fold of each row; ``None`` means one fold.
        objective: The loss compared: ``"mse"`` (squared) or ``"mae"`` (absolute error).
        lags: Newey-West lags; ``None`` uses ``settings.dependence_lags`` (or 0).
        level: Test level; ``None`` uses ``settings.significance``. 0 keeps everyone global.
        weight: Per entity blend weight of its final model; ``None`` uses the mean of the
            chosen candidate's validation weights.

    Returns:
        One decision record per entity of ``n_train`` with columns
        :data:`DECISION_COLUMNS`; ``candidate`` and ``val_mse_local`` describe the best
        candidate even when the decision is global. ``val_mse_*`` hold the objective's
        loss (squared or absolute error).

    """
    settings = settings or SelectionSettings()
    lags = lags if lags is not None else (settings.dependence_lags or 0)
    entities = pd.Index(n_train.index, name=ENTITY_COLUMN)
    evidence = Evidence(
        entity_ids,
        target,
        global_prediction,
        candidates,
        fold,
        objective,
        lags,
        settings.variance_prior_rows,
    )
    rows = _rows(evidence, entities)
    best = _best_candidates(rows, np.ones(len(rows.codes), dtype=bool), objective, lags)
    n_train_rows = n_train.to_numpy(dtype=np.int64)
    level = settings.significance if level is None else level
    choice = _choose(best, n_train_rows, min_train_rows, settings, level)
    decision, weights = _decisions(rows, best, choice, candidates, entities, weight)
    reason = choice.reason
    if level == 0:
        reason[choice.tested & (reason == Reason.NOT_SIGNIFICANT.value)] = Reason.GUARD.value
    names = np.array([c.name for c in candidates] + [None], dtype=object)
    return pd.DataFrame(
        {
            ENTITY_COLUMN: entities.to_numpy(),
            "decision": pd.array(decision, dtype="str"),
            "candidate": pd.array(names[best.index], dtype="str"),
            "weight": weights,
            "reason": pd.array(reason, dtype="str"),
            "n_train": n_train_rows,
            "n_val": best.counts.astype(np.int64),
            "val_mse_global": best.loss_global,
            "val_mse_local": best.loss_global - best.gain,
            "p_value": np.where(choice.tested, choice.adjusted, np.nan),
        }
    )
