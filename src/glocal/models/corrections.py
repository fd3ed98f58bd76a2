"""Shrunk one-parameter per-entity candidates: corrections of the global model, or a rate.

Three candidates that need far less data than a ridge on all features:

* ``level``: ``global + b``, where ``b`` is the entity's mean residual ``y - global`` (its
  median under the ``mae`` objective) shrunk toward 0 by ``n / (n + k)``; an
  empirical-Bayes style level shift.
* ``scale``: ``global * (1 + a)``, where ``a`` is the least-squares slope of the residual on
  the global prediction (through the origin), shrunk by ``n / (n + k)``; it captures
  entities that reliably spend a multiple of what the global model expects.
* ``intermittent``: for entities that mostly have a zero target, the shrunk rate of
  non-zero targets times their shrunk mean size, ``p * v`` with
  ``p = (n_nonzero + k p0) / (n + k)`` and ``v = (sum_nonzero + k v0) / (n_nonzero + k)``,
  ``p0`` and ``v0`` the population's rate and median size (in the spirit of BG/NBD: a
  purchase rate and a spend per purchase, both pulled toward the population). Its
  expectation is never zero while the population buys, so a quiet spell does not make it
  predict nothing. Under ``mae`` it predicts 0 when ``p < 1/2`` (the median of a mostly
  zero target) and ``v`` otherwise.

Examples:
    >>> import numpy as np
    >>> c = ShrunkCorrection("level", shrinkage_rows=1.0).fit(
    ...     np.array(["a", "a", "b"]), np.array([3.0, 5.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    >>> c.correction(np.array(["a", "b", "z"]), np.array([1.0, 1.0, 1.0])).round(3).tolist()
    [2.0, 0.0, nan]

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import Objective
from glocal.core.errors import ModelError, NotFittedError
from glocal.models.frames import ENTITY_COLUMN, entity_positions, factorize_sorted

__all__ = [
    "CorrectionKind",
    "IntermittentPrior",
    "ShrunkCorrection",
    "grouped_median",
    "intermittent_prior",
]

FloatArray = npt.NDArray[np.float64]
CorrectionKind = Literal["level", "scale", "intermittent"]


def grouped_median(codes: npt.NDArray[np.intp], values: FloatArray, n_groups: int) -> FloatArray:
    """Return the median of ``values`` within each group code (NaN for empty groups).

    Examples:
        >>> grouped_median(np.array([0, 0, 0, 1, 1]), np.array([3.0, 1.0, 2.0, 5.0, 7.0]), 3)
        array([ 2.,  6., nan])

    """
    order = np.lexsort((values, codes))
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_values = values[order]
    median = np.full(n_groups, np.nan)
    present = counts > 0
    low = starts[present] + (counts[present] - 1) // 2
    high = starts[present] + counts[present] // 2
    median[present] = 0.5 * (sorted_values[low] + sorted_values[high])
    return median


@dataclass(frozen=True)
class IntermittentPrior:
    """The population's rate of non-zero targets and median size per non-zero target.

    The one part of the ``intermittent`` candidate that is not per entity: an engine that
    fits chunks of entities computes it once over all of them (:func:`intermittent_prior`)
    and passes it to each chunk's fit.
    """

    rate: float
    size: float


def _nonzero_sums(
    codes: npt.NDArray[np.intp], target: FloatArray, n_groups: int
) -> tuple[FloatArray, FloatArray]:
    nonzero = target != 0
    n_nonzero = np.bincount(codes, nonzero, n_groups).astype(np.float64)
    total = np.bincount(codes, np.where(nonzero, target, 0.0), n_groups).astype(np.float64)
    return n_nonzero, total


def intermittent_prior(entity_ids: npt.ArrayLike, target: FloatArray) -> IntermittentPrior:
    """Return the population prior of the ``intermittent`` candidate over these rows."""
    target = np.asarray(target, dtype=np.float64)
    codes, uniques = factorize_sorted(entity_ids)
    n_nonzero, total_nonzero = _nonzero_sums(codes, target, len(uniques))
    with np.errstate(divide="ignore", invalid="ignore"):
        own_size = total_nonzero / n_nonzero
    sizes = own_size[n_nonzero > 0]
    return IntermittentPrior(
        rate=float((target != 0).mean()) if len(target) else 0.0,
        size=float(np.median(sizes)) if len(sizes) else 0.0,
    )


def _intermittent_value(
    codes: npt.NDArray[np.intp],
    target: FloatArray,
    n_rows: FloatArray,
    shrinkage: float,
    objective: Objective,
    prior: IntermittentPrior,
) -> FloatArray:
    n_nonzero, total_nonzero = _nonzero_sums(codes, target, len(n_rows))
    rate = (n_nonzero + shrinkage * prior.rate) / (n_rows + shrinkage)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = (total_nonzero + shrinkage * prior.size) / (n_nonzero + shrinkage)
    size = np.where(np.isfinite(size), size, prior.size)
    if objective == "mae":
        return np.where(rate >= 0.5, size, 0.0)
    return np.asarray(rate * size, dtype=np.float64)


class ShrunkCorrection:
    """A per-entity level shift, multiplicative scaling, or intermittent rate forecast.

    Args:
        kind: ``"level"``, ``"scale"`` or ``"intermittent"``.
        shrinkage_rows: ``k`` in the shrinkage factor ``n / (n + k)``.
        min_train_rows: Entities with fewer rows get no value (NaN).
        objective: ``"mse"`` or ``"mae"``: the loss the candidate serves.

    Attributes:
        entity_ids_: Entities with a value.
        value_: Level ``b``, slope ``a`` or forecast ``p * v`` per entity.
        n_train_: Training rows per entity.

    """

    def __init__(
        self,
        kind: CorrectionKind,
        shrinkage_rows: float = 5.0,
        min_train_rows: int = 1,
        objective: Objective = "mse",
    ) -> None:
        self.kind = kind
        self.shrinkage_rows = shrinkage_rows
        self.min_train_rows = min_train_rows
        self.objective = objective

    def fit(
        self,
        entity_ids: npt.ArrayLike,
        target: FloatArray,
        global_prediction: FloatArray,
        prior: IntermittentPrior | None = None,
    ) -> ShrunkCorrection:
        """Fit every entity's value from its rows' target and global prediction.

        ``prior`` (``intermittent`` only): the population prior; ``None`` computes it from
        these rows. Pass the whole population's when fitting a chunk of its entities.
        """
        if self.kind not in get_args(CorrectionKind):
            raise ModelError(
                f"kind must be one of {list(get_args(CorrectionKind))}, got {self.kind!r}."
            )
        codes, uniques = factorize_sorted(entity_ids)
        target = np.asarray(target, dtype=np.float64)
        residual = target - global_prediction
        n_rows = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
        shrink = n_rows / (n_rows + self.shrinkage_rows)
        if self.kind == "intermittent":
            prior = prior if prior is not None else intermittent_prior(entity_ids, target)
            value = _intermittent_value(
                codes, target, n_rows, self.shrinkage_rows, self.objective, prior
            )
        elif self.kind == "level" and self.objective == "mae":
            value = grouped_median(codes, residual, len(uniques)) * shrink
        elif self.kind == "level":
            value = np.bincount(codes, residual, len(uniques)) / n_rows * shrink
        else:
            cross = np.bincount(codes, residual * global_prediction, len(uniques))
            square = np.bincount(codes, global_prediction**2, len(uniques))
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(square > 0, cross / square, 0.0) * shrink
        keep = n_rows >= self.min_train_rows
        self.entity_ids_ = pd.Index(uniques[keep], name=ENTITY_COLUMN)
        self.value_ = value[keep]
        self.n_train_ = n_rows[keep].astype(np.int64)
        return self

    def correction(self, entity_ids: npt.ArrayLike, global_prediction: FloatArray) -> FloatArray:
        """Return the additive correction of each row; NaN where the entity has none."""
        if not hasattr(self, "value_"):
            raise NotFittedError("this ShrunkCorrection is not fitted yet; call fit() first.")
        codes = entity_positions(entity_ids, self.entity_ids_)
        value = np.full(len(codes), np.nan)
        known = codes >= 0
        value[known] = self.value_[codes[known]]
        return self.apply(value, global_prediction)

    def apply(self, value: FloatArray, global_prediction: FloatArray) -> FloatArray:
        """Return the additive correction of rows given their entity's ``value_``."""
        if self.kind == "level":
            return value
        if self.kind == "scale":
            return value * global_prediction
        return value - global_prediction

    def to_frame(self) -> pd.DataFrame:
        """Export as one row per entity: ``entity_id``, ``n_train``, ``value``."""
        if not hasattr(self, "value_"):
            raise NotFittedError("this ShrunkCorrection is not fitted yet; call fit() first.")
        return pd.DataFrame(
            {
                ENTITY_COLUMN: self.entity_ids_.to_numpy(),
                "n_train": self.n_train_,
                "value": self.value_,
            }
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        kind: CorrectionKind,
        shrinkage_rows: float = 5.0,
        min_train_rows: int = 1,
        objective: Objective = "mse",
    ) -> ShrunkCorrection:
        """Rebuild a fitted correction from :meth:`to_frame` output."""
        missing = [c for c in (ENTITY_COLUMN, "n_train", "value") if c not in frame.columns]
        if missing:
            raise ModelError(
                f"column(s) {missing} missing from the {kind} correction table; found "
                f"{list(frame.columns)}. Write it with ShrunkCorrection.to_frame()."
            )
        correction = cls(
            kind, shrinkage_rows=shrinkage_rows, min_train_rows=min_train_rows, objective=objective
        )
        correction.entity_ids_ = pd.Index(frame[ENTITY_COLUMN], name=ENTITY_COLUMN)
        correction.value_ = frame["value"].to_numpy(dtype=np.float64)
        correction.n_train_ = frame["n_train"].to_numpy(dtype=np.int64)
        return correction
