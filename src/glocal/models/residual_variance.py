"""Each entity's residual variance, shrunk toward its peers': the selection's variance floor.

The work splits into a per-entity part and a population part, so that it can run over
chunks of entities (or partitions of a cluster) and still give the same numbers as one pass:

* :func:`residual_moments` (per entity): rows, residual variance and mean ``|prediction|``;
* :func:`shrink_variances` (population): the peers' prior from every entity's moments, and
  each entity's variance pulled toward it.

:func:`shrunk_residual_variance` is the two in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.models.frames import ENTITY_COLUMN, factorize_sorted

__all__ = [
    "ResidualMoments",
    "grouped_mean",
    "residual_moments",
    "shrink_variances",
    "shrunk_residual_variance",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def grouped_mean(codes: IntArray, values: FloatArray, counts: FloatArray) -> FloatArray:
    """Return the mean of ``values`` per group code (NaN where a group has no rows)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.bincount(codes, values, len(counts)) / counts


@dataclass(frozen=True)
class ResidualMoments:
    """Per entity (sorted ids): finite residual rows, their variance, mean ``|prediction|``."""

    entity_ids: npt.NDArray[Any]
    n: FloatArray
    variance: FloatArray
    mean_level: FloatArray

    @classmethod
    def concat(cls, parts: Sequence[ResidualMoments]) -> ResidualMoments:
        """Stack the moments of disjoint chunks of entities, in order."""
        if not parts:
            return cls(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
        return cls(
            np.concatenate([p.entity_ids for p in parts]),
            np.concatenate([p.n for p in parts]),
            np.concatenate([p.variance for p in parts]),
            np.concatenate([p.mean_level for p in parts]),
        )


def residual_moments(
    entity_ids: npt.ArrayLike,
    target: FloatArray,
    prediction: FloatArray,
    factorized: tuple[IntArray, npt.NDArray[Any]] | None = None,
) -> ResidualMoments:
    """Return each entity's moments of the residual ``target - prediction`` (finite rows).

    ``factorized``: ``factorize_sorted(entity_ids)``, when the caller has it already (the
    same rows for several predictions).
    """
    all_codes, uniques = factorized if factorized is not None else factorize_sorted(entity_ids)
    residual = np.asarray(target, dtype=np.float64) - prediction
    finite = np.isfinite(residual)
    codes = all_codes
    if not finite.all():  # most candidates predict every row: no copies then
        codes, residual, prediction = all_codes[finite], residual[finite], prediction[finite]
    n = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
    mean = grouped_mean(codes, residual, n)
    residual -= mean[codes]
    variance = np.nan_to_num(grouped_mean(codes, residual * residual, n))
    mean_level = np.nan_to_num(grouped_mean(codes, np.abs(prediction), n))
    return ResidualMoments(uniques, n, variance, mean_level)


def shrink_variances(moments: ResidualMoments, prior_rows: float, bins: int = 20) -> pd.Series:
    """Return each entity's variance shrunk toward the median of its level bin's.

    Peers are the entities in the same quantile bin of mean ``|prediction|``; their median
    positive variance is the prior, weighted as ``prior_rows`` rows. NaN where an entity
    has no finite residual.
    """
    n, variance, mean_level = moments.n, moments.variance, moments.mean_level
    n_bins = max(1, min(bins, len(n) // 20))
    quantiles = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = np.quantile(mean_level, quantiles) if n_bins > 1 else np.zeros(0)
    bin_of = np.searchsorted(edges, mean_level, side="right")
    prior = np.zeros(n_bins)
    # each bin's positive variances of entities with 2 rows or more, in one sort by bin
    counted = (n > 1) & (variance > 0)
    counted_bins = bin_of[counted].astype(np.int16)  # <= 20 bins: a radix sort
    order = np.argsort(counted_bins, kind="stable")
    members = variance[counted][order]
    bounds = np.searchsorted(counted_bins[order], np.arange(n_bins + 1))
    for index in range(n_bins):
        positive = members[bounds[index] : bounds[index + 1]]
        prior[index] = float(np.median(positive)) if len(positive) else 0.0
    fallback = variance[variance > 0]
    prior[prior == 0] = float(np.median(fallback)) if len(fallback) else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        shrunk = (n * variance + prior_rows * prior[bin_of]) / (n + prior_rows)
    shrunk[n == 0] = np.nan
    index = pd.Index(moments.entity_ids, name=ENTITY_COLUMN)
    return pd.Series(shrunk, index=index, name="variance")


def shrunk_residual_variance(
    entity_ids: npt.ArrayLike,
    target: FloatArray,
    prediction: FloatArray,
    prior_rows: float,
    bins: int = 20,
) -> pd.Series:
    """Return each entity's residual variance shrunk toward its peers' (an empirical prior).

    The residual is ``target - prediction`` (e.g. the global model's, in sample); peers are
    the entities in the same quantile bin of mean ``|prediction|``: their median variance
    is the prior, weighted as ``prior_rows`` rows.

    Examples:
        >>> ids = np.repeat(["quiet", "busy", "other"], 4)
        >>> y = np.array([0, 0, 0, 0, 5, -5, 5, -5, 1, -1, 1, -1], dtype=float)
        >>> v = shrunk_residual_variance(ids, y, np.zeros(12), prior_rows=4, bins=1)
        >>> bool(v["quiet"] > 0), bool(v["busy"] > v["quiet"])
        (True, True)

    """
    return shrink_variances(residual_moments(entity_ids, target, prediction), prior_rows, bins)
