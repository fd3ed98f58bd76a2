"""Row losses of the chosen objective, and a paired comparison clustered by entity.

A comparison of two forecasts over a whole population is judged on the per-row loss
differences, but rows of one entity are not independent (overlapping target windows, the
same customer's habits), and on spend data a handful of very large customers can decide a
pooled mean alone. :func:`clustered_comparison` therefore treats each entity as one
cluster: its standard error comes from the spread of the per-entity sums, so a gain that
rests on two customers is not significant however many rows they have.

Examples:
    >>> row_loss(np.array([1.0, 3.0]), np.array([2.0, 2.0]), "mae").tolist()
    [1.0, 1.0]
    >>> codes = np.repeat(np.arange(50), 4)
    >>> rng = np.random.default_rng(0)
    >>> worse = rng.normal(1.0, 0.1, 200)
    >>> better = worse - 0.5
    >>> comparison = clustered_comparison(better, worse, codes)
    >>> round(comparison.gain, 9), comparison.p_value < 1e-6
    (0.5, True)

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from glocal.config.models import Objective

__all__ = ["Comparison", "clustered_comparison", "clustered_comparison_of_sums", "row_loss"]

FloatArray = npt.NDArray[np.float64]


def row_loss(target: FloatArray, prediction: FloatArray, objective: Objective) -> FloatArray:
    """Return each row's squared (``mse``) or absolute (``mae``) error."""
    error = np.asarray(target, dtype=np.float64) - np.asarray(prediction, dtype=np.float64)
    return np.abs(error, out=error) if objective == "mae" else np.multiply(error, error, out=error)


@dataclass(frozen=True)
class Comparison:
    """How much lower a candidate's mean row loss is than a reference's, and how surely.

    Attributes:
        gain: Mean over rows of ``reference loss - candidate loss`` (> 0: candidate better).
        z: ``gain`` over its entity-clustered standard error.
        p_value: One-sided p-value of "the candidate is not better".
        clusters: Entities that contributed rows.

    """

    gain: float
    z: float
    p_value: float
    clusters: int


def clustered_comparison(
    candidate_loss: FloatArray, reference_loss: FloatArray, cluster: npt.NDArray[np.integer]
) -> Comparison:
    """Compare two forecasts' row losses with an entity-clustered standard error.

    Args:
        candidate_loss: Row losses of the candidate.
        reference_loss: Row losses of the reference, on the same rows.
        cluster: Non-negative cluster (entity) code of each row.

    """
    difference = np.asarray(reference_loss, dtype=np.float64) - candidate_loss
    if len(difference) == 0:
        return Comparison(0.0, 0.0, 1.0, 0)
    sums = np.asarray(np.bincount(cluster, difference), dtype=np.float64)
    sizes = np.bincount(cluster).astype(np.float64)
    return _clustered(float(difference.mean()), sums, sizes, len(difference))


def clustered_comparison_of_sums(gains: FloatArray, rows: FloatArray) -> Comparison:
    """:func:`clustered_comparison` from each cluster's sum of differences and its rows.

    Args:
        gains: Per cluster, the sum over its rows of ``reference loss - candidate loss``.
        rows: Per cluster, its rows (clusters without rows are left out).

    """
    n = float(rows.sum())
    if n == 0:
        return Comparison(0.0, 0.0, 1.0, 0)
    return _clustered(float(gains.sum()) / n, gains, rows, n)


def _clustered(gain: float, sums: FloatArray, sizes: FloatArray, n: float) -> Comparison:
    present = sizes > 0
    clusters = int(present.sum())
    centered = sums[present] - sizes[present] * gain
    correction = clusters / (clusters - 1) if clusters > 1 else 1.0
    variance = correction * float(np.dot(centered, centered)) / (n * n)
    if variance <= 0:
        z = np.inf if gain > 0 else (-np.inf if gain < 0 else 0.0)
    else:
        z = gain / np.sqrt(variance)
    return Comparison(gain, float(z), float(stats.norm.sf(z)), clusters)
