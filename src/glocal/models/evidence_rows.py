"""The validation rows the per-entity choice is made on, mapped to entity codes.

:class:`Evidence` holds every fold's validation rows with each candidate's prediction;
:func:`evidence_rows` maps them to the positions of the entities to decide and fills in
each candidate's variance floor where none was given (the variance of its residuals on
these rows, shrunk toward its peers').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import Objective
from glocal.core.errors import ModelError
from glocal.models.frames import entity_positions
from glocal.models.residual_variance import shrunk_residual_variance

__all__ = [
    "Blend",
    "Candidate",
    "EntityFloor",
    "Evidence",
    "EvidenceRows",
    "Floor",
    "Prediction",
    "as_array",
    "evidence_rows",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Blend:
    """A blend's prediction, ``g + w (base - g)`` row by row, computed when it is read.

    The evidence of every fold holds one per candidate kind: computing a block of rows at
    a time spares a full array per kind (0.36 GB at a million entities). Reading any rows
    gives exactly the numbers of the whole array computed at once.
    """

    base: FloatArray
    global_prediction: FloatArray
    weight: FloatArray

    def __len__(self) -> int:
        """Rows."""
        return len(self.base)

    def __getitem__(self, rows: slice | npt.NDArray[np.bool_] | IntArray) -> FloatArray:
        """Return the blend of ``rows`` (a slice, a mask or positions)."""
        g = self.global_prediction[rows]
        blended: FloatArray = g + self.weight[rows] * (self.base[rows] - g)
        return blended

    def to_numpy(self) -> FloatArray:
        """Return every row's blend."""
        return self[slice(None)]


@dataclass(frozen=True)
class EntityFloor:
    """A candidate's variance floor per row, read from one value per entity and fold.

    The floor is constant over an entity's rows of one fold: ``values`` holds it once per
    (fold, entity) and ``at`` each row's position there (-1: no floor, read as 0), shared
    by every candidate. That spares a full array per candidate (0.4 GB at a million
    entities); reading any rows gives the numbers of the per-row array.
    """

    values: FloatArray
    at: IntArray

    def __len__(self) -> int:
        """Rows."""
        return len(self.at)

    def __getitem__(self, rows: slice | npt.NDArray[np.bool_] | IntArray) -> FloatArray:
        """Return the floor of ``rows`` (a slice, a mask or positions)."""
        at = self.at[rows]
        floor: FloatArray = np.where(at >= 0, self.values[np.maximum(at, 0)], 0.0)
        return floor

    def to_numpy(self) -> FloatArray:
        """Return every row's floor."""
        return self[slice(None)]


Prediction = FloatArray | Blend
"""A candidate's per-row prediction: an array, or a blend computed when read."""

Floor = FloatArray | EntityFloor
"""A candidate's per-row variance floor: an array, or one value per entity and fold."""


def as_array(values: Prediction | Floor | npt.ArrayLike) -> FloatArray:
    """Return per-row ``values`` as a float array (a blend or an entity floor is read)."""
    if isinstance(values, Blend | EntityFloor):
        return values.to_numpy()
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class Candidate:
    """One per-entity alternative to the global model, predicted on the validation rows.

    Attributes:
        name: Name recorded in the decisions, e.g. ``"residual"`` or ``"residual+blend"``.
        decision: ``"local"`` or ``"blend"``: what the entity's decision is if it wins.
        prediction: Per validation row; NaN where the entity has no such model. A
            :class:`Blend` is computed block by block where it is read.
        weight: Per validation row blend weight (constant within an entity); ``None``
            means 1.
        variance: Per validation row, the variance of the candidate's residuals over the
            entity's training rows (the variance floor, see
            :mod:`glocal.models.selection`), per row or as an :class:`EntityFloor`;
            ``None`` uses the variance of its residuals on the validation rows
            themselves, shrunk toward its peers'.

    """

    name: str
    decision: Literal["local", "blend"]
    prediction: Prediction
    weight: FloatArray | None = None
    variance: Floor | None = None


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


@dataclass(frozen=True)
class EvidenceRows:
    """Evidence rows mapped to entity codes (rows of unknown entities dropped)."""

    codes: IntArray
    fold: IntArray
    target: FloatArray
    global_prediction: FloatArray
    predictions: list[Prediction]  # a Blend where every row is kept
    weights: list[FloatArray | None]
    variances: list[Floor]  # per candidate, per row: the floor's Var(y - c)
    n_entities: int


def evidence_rows(evidence: Evidence, entities: pd.Index) -> EvidenceRows:
    """Map ``evidence`` to the positions of ``entities``; give every candidate its floor."""
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
    variances: list[Floor] = []
    for candidate in evidence.candidates:
        if everyone and isinstance(candidate.variance, EntityFloor):
            variances.append(candidate.variance)  # finite on every row: read where needed
            continue
        given = None if candidate.variance is None else kept(as_array(candidate.variance))
        if given is not None and np.isfinite(given).all():
            variances.append(given)  # every row has its floor: no fallback needed
            continue
        prediction = kept(as_array(candidate.prediction))
        own = shrunk_residual_variance(ids, y, prediction, evidence.prior_rows)
        fallback = own.reindex(entities).to_numpy(dtype=np.float64, na_value=np.nan)
        fallback = np.nan_to_num(fallback[codes])
        if given is not None:
            fallback = np.where(np.isfinite(given), given, fallback)
        variances.append(fallback)
    return EvidenceRows(
        codes=codes,
        fold=fold,
        target=y,
        global_prediction=kept(g),
        # a blend stays lazy where every row is kept; otherwise its kept rows are computed
        predictions=[
            c.prediction
            if everyone and isinstance(c.prediction, Blend)
            else kept(as_array(c.prediction))
            for c in evidence.candidates
        ],
        weights=[None if c.weight is None else kept(c.weight) for c in evidence.candidates],
        variances=variances,
        n_entities=len(entities),
    )
