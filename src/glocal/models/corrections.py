"""Shrunk one-parameter corrections of the global model, per entity.

Two candidates that need far less data than a ridge on all features:

* ``level``: ``global + b``, where ``b`` is the entity's mean residual ``y - global`` shrunk
  toward 0 by ``n / (n + k)``; an empirical-Bayes style level shift.
* ``scale``: ``global * (1 + a)``, where ``a`` is the least-squares slope of the residual on
  the global prediction (through the origin), shrunk by ``n / (n + k)``; it captures
  entities that reliably spend a multiple of what the global model expects.

Examples:
    >>> import numpy as np
    >>> c = ShrunkCorrection("level", shrinkage_rows=1.0).fit(
    ...     np.array(["a", "a", "b"]), np.array([3.0, 5.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    >>> c.correction(np.array(["a", "b", "z"]), np.array([1.0, 1.0, 1.0])).round(3).tolist()
    [2.0, 0.0, nan]

"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.core.errors import ModelError, NotFittedError
from glocal.models.frames import ENTITY_COLUMN

__all__ = ["ShrunkCorrection"]

FloatArray = npt.NDArray[np.float64]


class ShrunkCorrection:
    """A per-entity level shift or multiplicative scaling of the global prediction.

    Args:
        kind: ``"level"`` or ``"scale"``.
        shrinkage_rows: ``k`` in the shrinkage factor ``n / (n + k)``.
        min_train_rows: Entities with fewer rows get no correction (NaN).

    Attributes:
        entity_ids_: Entities with a correction.
        value_: Level ``b`` or slope ``a`` per entity.
        n_train_: Training rows per entity.

    """

    def __init__(
        self,
        kind: Literal["level", "scale"],
        shrinkage_rows: float = 5.0,
        min_train_rows: int = 1,
    ) -> None:
        self.kind = kind
        self.shrinkage_rows = shrinkage_rows
        self.min_train_rows = min_train_rows

    def fit(
        self, entity_ids: npt.ArrayLike, target: FloatArray, global_prediction: FloatArray
    ) -> ShrunkCorrection:
        """Fit every entity's correction from its rows' target and global prediction."""
        if self.kind not in ("level", "scale"):
            raise ModelError(f"kind must be 'level' or 'scale', got {self.kind!r}.")
        codes, uniques = pd.factorize(pd.Index(np.asarray(entity_ids)), sort=True)
        residual = np.asarray(target, dtype=np.float64) - global_prediction
        n_rows = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
        shrink = n_rows / (n_rows + self.shrinkage_rows)
        if self.kind == "level":
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
        codes = self.entity_ids_.get_indexer(pd.Index(np.asarray(entity_ids)))
        value = np.where(codes >= 0, self.value_[codes], np.nan)
        return value if self.kind == "level" else value * global_prediction

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
        kind: Literal["level", "scale"],
        shrinkage_rows: float = 5.0,
        min_train_rows: int = 1,
    ) -> ShrunkCorrection:
        """Rebuild a fitted correction from :meth:`to_frame` output."""
        missing = [c for c in (ENTITY_COLUMN, "n_train", "value") if c not in frame.columns]
        if missing:
            raise ModelError(
                f"column(s) {missing} missing from the {kind} correction table; found "
                f"{list(frame.columns)}. Write it with ShrunkCorrection.to_frame()."
            )
        correction = cls(kind, shrinkage_rows=shrinkage_rows, min_train_rows=min_train_rows)
        correction.entity_ids_ = pd.Index(frame[ENTITY_COLUMN], name=ENTITY_COLUMN)
        correction.value_ = frame["value"].to_numpy(dtype=np.float64)
        correction.n_train_ = frame["n_train"].to_numpy(dtype=np.int64)
        return correction
