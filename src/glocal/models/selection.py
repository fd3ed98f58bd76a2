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
* **Sums, not rows.** The rows are reduced once, per candidate, to sums per (entity, fold)
  (:mod:`glocal.models.fold_statistics`); the test on any set of folds is a sum of those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import Objective, SelectionSettings
from glocal.models.decisions import DECISION_COLUMNS
from glocal.models.evidence_rows import Candidate, Evidence, EvidenceRows, evidence_rows
from glocal.models.fold_statistics import Best, FoldTests
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.residual_variance import grouped_mean, shrunk_residual_variance

__all__ = [
    "DECISION_COLUMNS",
    "Candidate",
    "Evidence",
    "Reason",
    "fold_tests",
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


def fold_tests(evidence: Evidence, entities: pd.Index) -> FoldTests:
    """Return the per-(entity, fold) sums of ``evidence`` for deciding ``entities``.

    Pass them to :func:`select_per_entity` and :func:`~glocal.models.guard.guard_level`
    (``tests=``) to reduce the rows once for both.
    """
    index = pd.Index(entities, name=ENTITY_COLUMN)
    return FoldTests.of(evidence_rows(evidence, index), evidence.objective, evidence.lags)


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
    best: Best, n_train_rows: IntArray, min_train_rows: int, settings: SelectionSettings
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
    best: Best,
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
    rows: EvidenceRows,
    best: Best,
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
    tests: FoldTests | None = None,
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
        tests: :func:`fold_tests` of these rows, shared with the guard; ``None``: reduced
            here.

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
    tests = tests if tests is not None else fold_tests(evidence, entities)
    rows = tests.rows
    (best,) = tests.best([np.ones(len(tests.folds), dtype=bool)])
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
