"""The population guard: per-entity switches must help on folds they were not chosen on.

:func:`select_per_entity` tests each entity on its own validation rows; with thousands of
entities and a handful of candidates each, some winners are lucky. The guard measures how
lucky: for every fold, every entity is decided on the *other* folds' rows and the switched
ones are scored on the held-out fold, for a ladder of test levels. Only a level whose
switches lower the held-out loss (in total, in most folds, and significantly when
clustered by entity, so that one very large customer cannot carry it) is used; if none
does, every entity stays global.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import Objective, SelectionSettings
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.losses import clustered_comparison, row_loss
from glocal.models.selection import (
    Evidence,
    _Best,
    _best_candidates,
    _Rows,
    _rows,
    _Screen,
    _screen,
)

__all__ = ["GUARD_CONFIDENCE", "GuardOutcome", "guard_level"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_GUARD_STEPS = 7
"""The guard tries the configured level and this many tighter ones (each half as large)."""

GUARD_CONFIDENCE = 0.05
"""The held-out improvement of a level's switches must be significant at this level, in a
test clustered by entity: a gain that rests on one very large customer is not a gain."""


@dataclass(frozen=True)
class GuardOutcome:
    """The level the population guard chose and what each level did on held-out folds."""

    level: float
    outcome: str
    levels: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome for ``metrics.json`` and the registry record."""
        return {"level": self.level, "outcome": self.outcome, "levels": self.levels}


@dataclass(frozen=True)
class _HeldOut:
    """The switched entities' rows of one held-out fold, under local and under global."""

    codes: IntArray
    local_loss: FloatArray
    global_loss: FloatArray
    switched: int


def _held_out(
    rows: _Rows,
    best: _Best,
    screen: _Screen,
    fold_rows: IntArray,
    objective: Objective,
    level: float,
) -> _HeldOut:
    """Decide at ``level`` on every fold but one; score the switches on that fold's rows.

    ``best`` and ``screen`` are the other folds' evidence; ``fold_rows`` the held-out rows.
    """
    chosen = screen.chosen(level)
    scored = fold_rows[chosen[rows.codes[fold_rows]]]
    candidate = best.index[rows.codes[scored]]
    prediction = np.zeros(len(scored))
    for index, predictions in enumerate(rows.predictions):  # a handful of candidates
        mine = candidate == index
        prediction[mine] = predictions[scored[mine]]
    y, g = rows.target[scored], rows.global_prediction[scored]
    global_loss = row_loss(y, g, objective)
    # where the candidate has no model on the held-out fold, the entity is served globally
    local_loss = np.where(np.isnan(prediction), global_loss, row_loss(y, prediction, objective))
    return _HeldOut(rows.codes[scored], local_loss, global_loss, int(chosen.sum()))


def guard_level(
    evidence: Evidence,
    n_train: pd.Series,
    settings: SelectionSettings,
    *,
    min_train_rows: int = 1,
) -> GuardOutcome:
    """Choose the test level whose switches help on folds they were not chosen on.

    For each level (``significance``, then 2, 4, ... times smaller) and each fold, every
    entity is decided on the other folds' rows, and the switched entities are scored on
    the held-out fold's rows. A level is accepted when its switches lower the held-out
    loss in total, in more than half of the folds, and significantly
    (:data:`GUARD_CONFIDENCE`, one-sided, clustered by entity). The accepted level with the
    largest total improvement is kept; if none is accepted, the level is 0 and every
    entity stays global.

    Args:
        evidence: The pooled validation rows of every fold (with ``fold`` set).
        n_train: Training rows per entity, indexed by entity id.
        settings: The selection settings.
        min_train_rows: Entities with fewer training rows stay global.

    """
    entities = pd.Index(n_train.index, name=ENTITY_COLUMN)
    rows = _rows(evidence, entities)
    folds = np.unique(rows.fold)
    total_global = float(row_loss(rows.target, rows.global_prediction, evidence.objective).sum())
    n_train_rows = n_train.to_numpy(dtype=np.int64)
    levels: list[dict[str, Any]] = []
    if not settings.population_guard:
        return GuardOutcome(settings.significance, "guard off", levels)
    if len(folds) < 2:
        return GuardOutcome(settings.significance, "one fold: nothing to cross-fit", levels)
    # each fold's decision evidence, and who it tests, do not depend on the level: find
    # them once per fold; a level only moves the multiple-testing threshold
    bests = {
        int(fold): _best_candidates(rows, rows.fold != fold, evidence.objective, evidence.lags)
        for fold in folds
    }
    screens = {
        fold: _screen(best, n_train_rows, min_train_rows, settings) for fold, best in bests.items()
    }
    fold_rows = {int(fold): np.flatnonzero(rows.fold == fold) for fold in folds}
    best: tuple[float, float] | None = None
    for step in range(_GUARD_STEPS + 1):
        level = settings.significance / 2.0**step
        parts = [
            _held_out(
                rows,
                bests[int(held_out)],
                screens[int(held_out)],
                fold_rows[int(held_out)],
                evidence.objective,
                level,
            )
            for held_out in folds
        ]
        changes = [float(np.sum(p.local_loss - p.global_loss)) for p in parts]
        total = float(sum(changes))
        comparison = clustered_comparison(
            np.concatenate([p.local_loss for p in parts]),
            np.concatenate([p.global_loss for p in parts]),
            np.concatenate([p.codes for p in parts]),
        )
        improving = sum(change < 0 for change in changes)
        accepted = (
            total < 0 and improving > len(folds) / 2 and comparison.p_value < GUARD_CONFIDENCE
        )
        levels.append(
            {
                "level": level,
                "switched_per_fold": [p.switched for p in parts],
                "loss_change_per_fold": changes,
                "relative_change": total / total_global if total_global else 0.0,
                "p_value": comparison.p_value,
                "accepted": bool(accepted),
            }
        )
        if accepted and (best is None or total < best[1]):
            best = (level, total)
    if best is None:
        return GuardOutcome(0.0, "no level helped on held-out folds: every entity global", levels)
    outcome = "kept" if best[0] == settings.significance else "tightened"
    return GuardOutcome(best[0], outcome, levels)
