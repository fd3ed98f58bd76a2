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

__all__ = ["Candidate", "Evidence", "EvidenceRows", "evidence_rows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
            entity's training rows (the variance floor, see
            :mod:`glocal.models.selection`); ``None`` uses the variance of its residuals on
            the validation rows themselves, shrunk toward its peers'.

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


@dataclass(frozen=True)
class EvidenceRows:
    """Evidence rows mapped to entity codes (rows of unknown entities dropped)."""

    codes: IntArray
    fold: IntArray
    target: FloatArray
    global_prediction: FloatArray
    predictions: list[FloatArray]
    weights: list[FloatArray | None]
    variances: list[FloatArray]  # per candidate, per row: the floor's Var(y - c)
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
    return EvidenceRows(
        codes=codes,
        fold=fold,
        target=y,
        global_prediction=kept(g),
        predictions=[kept(c.prediction) for c in evidence.candidates],
        weights=[None if c.weight is None else kept(c.weight) for c in evidence.candidates],
        variances=variances,
        n_entities=len(entities),
    )
