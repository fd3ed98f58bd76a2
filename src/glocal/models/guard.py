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

from glocal.config.models import SelectionSettings
from glocal.models.fold_statistics import Best, FoldTests
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.losses import clustered_comparison_of_sums
from glocal.models.selection import Evidence, _Screen, _screen, fold_tests

__all__ = ["GUARD_CONFIDENCE", "GuardOutcome", "guard_level"]

FloatArray = npt.NDArray[np.float64]

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
    """What the switches decided without one fold did on it, per entity."""

    gain: FloatArray  # sum over the fold's rows of global loss - switched loss
    rows: FloatArray  # the switched entities' rows in the fold
    switched: int


def _held_out(tests: FoldTests, best: Best, screen: _Screen, fold: int, level: float) -> _HeldOut:
    """Decide at ``level`` on every fold but one; score the switches on that fold.

    ``best`` and ``screen`` are the other folds' tests; ``fold`` the held-out fold's
    position. Where the chosen candidate has no prediction on a held-out row, the entity
    is served globally there: the row counts, with no gain.
    """
    chosen = screen.chosen(level)
    gain = np.where(chosen, best.held[fold], 0.0)
    rows = np.where(chosen, tests.count[fold], 0.0)
    return _HeldOut(gain, rows, int(chosen.sum()))


def guard_level(
    evidence: Evidence,
    n_train: pd.Series,
    settings: SelectionSettings,
    *,
    min_train_rows: int = 1,
    tests: FoldTests | None = None,
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
        tests: :func:`~glocal.models.selection.fold_tests` of ``evidence``, shared with
            the final choice; ``None``: reduced here.

    """
    levels: list[dict[str, Any]] = []
    if not settings.population_guard:
        return GuardOutcome(settings.significance, "guard off", levels)
    entities = pd.Index(n_train.index, name=ENTITY_COLUMN)
    tests = tests if tests is not None else fold_tests(evidence, entities)
    n_folds = len(tests.folds)
    if n_folds < 2:
        return GuardOutcome(settings.significance, "one fold: nothing to cross-fit", levels)
    total_global = float(tests.loss_global.sum())
    n_train_rows = n_train.to_numpy(dtype=np.int64)
    # each fold's decision evidence, and who it tests, do not depend on the level: find
    # them once per fold (with every fold's, which the final choice uses); a level only
    # moves the multiple-testing threshold
    every_fold = np.ones(n_folds, dtype=bool)
    fold_sets = [every_fold, *(np.arange(n_folds) != fold for fold in range(n_folds))]
    bests = tests.best(fold_sets)[1:]
    screens = [_screen(best, n_train_rows, min_train_rows, settings) for best in bests]
    best: tuple[float, float] | None = None
    for step in range(_GUARD_STEPS + 1):
        level = settings.significance / 2.0**step
        parts = [
            _held_out(tests, bests[fold], screens[fold], fold, level) for fold in range(n_folds)
        ]
        changes = [-float(p.gain.sum()) for p in parts]
        total = float(sum(changes))
        comparison = clustered_comparison_of_sums(
            np.sum([p.gain for p in parts], axis=0), np.sum([p.rows for p in parts], axis=0)
        )
        improving = sum(change < 0 for change in changes)
        accepted = total < 0 and improving > n_folds / 2 and comparison.p_value < GUARD_CONFIDENCE
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
