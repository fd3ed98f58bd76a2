"""Guarded per-entity choice between the global model and local candidates.

The choice is made on validation rows only. For each entity, the candidate with the lowest
validation MSE is compared with the global model by a one-sided paired t-test on per-row
squared-error differences ``d = (y - global)^2 - (y - candidate)^2`` (H0: mean d <= 0).
The variance of the mean of ``d`` can use Newey-West lags for overlapping targets. Because
the best of ``k`` candidates is tested, its p-value is multiplied by ``k`` (Bonferroni
within the entity); across entities, the p-values are thresholded with Benjamini-Hochberg
(false discovery rate), Bonferroni or no correction. An entity leaves the global model only
when the test rejects; everything else stays global with a reason code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from glocal.config.models import SelectionSettings
from glocal.core.errors import ModelError
from glocal.models.decisions import DECISION_COLUMNS
from glocal.models.frames import ENTITY_COLUMN

__all__ = ["DECISION_COLUMNS", "Candidate", "Reason", "select_per_entity"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Reason(StrEnum):
    """Why an entity got its decision."""

    TOO_FEW_ROWS = "TOO_FEW_ROWS"
    TOO_FEW_VALIDATION_ROWS = "TOO_FEW_VALIDATION_ROWS"
    LOCAL_WORSE = "LOCAL_WORSE"
    NOT_SIGNIFICANT = "NOT_SIGNIFICANT"
    LOCAL_BETTER = "LOCAL_BETTER"
    BLEND_BETTER = "BLEND_BETTER"


@dataclass(frozen=True)
class Candidate:
    """One per-entity alternative to the global model, predicted on the validation rows.

    Attributes:
        name: Name recorded in the decisions, e.g. ``"residual"`` or ``"residual+blend"``.
        decision: ``"local"`` or ``"blend"``: what the entity's decision is if it wins.
        prediction: Per validation row; NaN where the entity has no such model.
        weight: Per validation row blend weight (constant within an entity); ``None``
            means 1.

    """

    name: str
    decision: Literal["local", "blend"]
    prediction: FloatArray
    weight: FloatArray | None = None


def _grouped_mean(codes: IntArray, values: FloatArray, counts: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.bincount(codes, values, len(counts)) / counts


def _paired_p_values(
    codes: IntArray, difference: FloatArray, counts: FloatArray, lags: int
) -> tuple[FloatArray, FloatArray]:
    """Return per-entity mean difference and one-sided p-value of H0: mean <= 0.

    Rows of an entity must be contiguous and in time order for the lagged terms.
    """
    mean = _grouped_mean(codes, difference, counts)
    centered = difference - mean[codes]
    variance = _grouped_mean(codes, centered**2, counts)
    for lag in range(1, lags + 1):
        same = codes[lag:] == codes[:-lag]
        product = np.where(same, centered[lag:] * centered[:-lag], 0.0)
        autocovariance = _grouped_mean(codes[lag:], product, counts)
        variance += 2.0 * (1.0 - lag / (lags + 1.0)) * autocovariance
    with np.errstate(divide="ignore", invalid="ignore"):
        # n / (n - 1): the unbiased sample variance of the classic paired t-test
        standard_error = np.sqrt(np.maximum(variance, 0.0) / np.maximum(counts - 1.0, 1.0))
        statistic = mean / standard_error
    p_value = stats.t.sf(statistic, df=np.maximum(counts - 1.0, 1.0))
    degenerate = ~(standard_error > 0)
    p_value[degenerate] = np.where(mean[degenerate] > 0, 0.0, 1.0)
    return mean, np.asarray(p_value, dtype=np.float64)


def _reject(p_values: FloatArray, level: float, method: str) -> npt.NDArray[np.bool_]:
    """Return which hypotheses are rejected under the multiple-testing ``method``."""
    m = len(p_values)
    if m == 0:
        return np.zeros(0, dtype=bool)
    if method == "none":
        return p_values <= level
    if method == "bonferroni":
        return p_values <= level / m
    order = np.argsort(p_values, kind="stable")
    passed = p_values[order] <= level * np.arange(1, m + 1) / m
    rejected = np.zeros(m, dtype=bool)
    if passed.any():
        rejected[order[: np.flatnonzero(passed)[-1] + 1]] = True
    return rejected


def select_per_entity(
    entity_ids: npt.ArrayLike,
    target: npt.ArrayLike,
    global_prediction: npt.ArrayLike,
    candidates: Sequence[Candidate],
    n_train: pd.Series,
    settings: SelectionSettings | None = None,
    *,
    min_train_rows: int = 1,
) -> pd.DataFrame:
    """Decide, per entity, between the global model and its best local candidate.

    Args:
        entity_ids: Entity of each validation row; an entity's rows must be contiguous and
            in time order when ``settings.dependence_lags > 0``.
        target: Target of each validation row.
        global_prediction: Global model prediction of each validation row.
        candidates: Local candidates with their validation predictions.
        n_train: Training rows per entity, indexed by entity id: the entities to decide.
        settings: Guardrails; defaults to :class:`SelectionSettings` defaults.
        min_train_rows: Entities with fewer training rows stay global (TOO_FEW_ROWS).

    Returns:
        One decision record per entity of ``n_train`` with columns
        :data:`DECISION_COLUMNS`; ``candidate`` and ``val_mse_local`` describe the best
        candidate even when the decision is global.

    """
    settings = settings or SelectionSettings()
    entities = pd.Index(n_train.index, name=ENTITY_COLUMN)
    codes = np.asarray(entities.get_indexer(pd.Index(np.asarray(entity_ids))), dtype=np.int64)
    y = np.asarray(target, dtype=np.float64)
    g = np.asarray(global_prediction, dtype=np.float64)
    if not (len(codes) == len(y) == len(g)) or any(len(c.prediction) != len(y) for c in candidates):
        raise ModelError("entity_ids, target, global_prediction and candidates differ in length.")
    seen = codes >= 0
    codes, y, g = codes[seen], y[seen], g[seen]
    n_entities = len(entities)
    counts = np.bincount(codes, minlength=n_entities).astype(np.float64)
    mse_global = _grouped_mean(codes, (y - g) ** 2, counts)

    best_gain = np.full(n_entities, -np.inf)
    best_mse = np.full(n_entities, np.nan)
    best_p = np.ones(n_entities)
    best_index = np.full(n_entities, -1)
    n_available = np.zeros(n_entities)
    for index, candidate in enumerate(candidates):
        prediction = candidate.prediction[seen]
        missing = np.bincount(codes, np.isnan(prediction), n_entities) > 0
        available = (counts > 0) & ~missing
        difference = (y - g) ** 2 - (y - np.nan_to_num(prediction)) ** 2
        lags = settings.dependence_lags or 0  # Settings fills it from the feature settings
        gain, p_value = _paired_p_values(codes, difference, counts, lags)
        better = available & (gain > best_gain)
        best_gain[better], best_p[better], best_index[better] = gain[better], p_value[better], index
        best_mse[better] = mse_global[better] - gain[better]
        n_available += available

    n_train_rows = n_train.to_numpy(dtype=np.int64)
    too_few_train = n_train_rows < min_train_rows
    too_few_val = ~too_few_train & (counts < settings.min_validation_rows)
    no_candidate = ~too_few_train & ~too_few_val & (best_index < 0)
    tested = ~too_few_train & ~too_few_val & ~no_candidate
    adjusted = np.minimum(1.0, best_p * np.maximum(n_available, 1.0))
    significant = np.zeros(n_entities, dtype=bool)
    significant[tested] = _reject(
        adjusted[tested], settings.significance, settings.multiple_testing
    )

    reason = np.full(n_entities, Reason.NOT_SIGNIFICANT.value, dtype=object)
    reason[too_few_train | no_candidate] = Reason.TOO_FEW_ROWS.value
    reason[too_few_val] = Reason.TOO_FEW_VALIDATION_ROWS.value
    worse = tested & ~(best_gain > 0)
    reason[worse] = Reason.LOCAL_WORSE.value
    chosen = tested & ~worse & significant
    decision = np.full(n_entities, "global", dtype=object)
    weight = np.zeros(n_entities)
    names = np.array([c.name for c in candidates] + [None], dtype=object)
    for index, candidate in enumerate(candidates):
        mine = chosen & (best_index == index)
        decision[mine] = candidate.decision
        reason[mine] = (
            Reason.BLEND_BETTER.value
            if candidate.decision == "blend"
            else Reason.LOCAL_BETTER.value
        )
        if candidate.weight is None:
            weight[mine] = 1.0
        else:
            weight[mine] = _grouped_mean(codes, candidate.weight[seen], counts)[mine]
    return pd.DataFrame(
        {
            ENTITY_COLUMN: entities.to_numpy(),
            "decision": pd.array(decision, dtype="str"),
            "candidate": pd.array(names[best_index], dtype="str"),
            "weight": weight,
            "reason": pd.array(reason, dtype="str"),
            "n_train": n_train_rows,
            "n_val": counts.astype(np.int64),
            "val_mse_global": mse_global,
            "val_mse_local": best_mse,
            "p_value": np.where(tested, adjusted, np.nan),
        }
    )
