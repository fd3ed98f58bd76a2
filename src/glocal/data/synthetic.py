"""Synthetic entity panels with planted per-entity deviations and a known noise floor.

Every entity shares one global, mildly non-linear function of the features; entities with
heterogeneity ``h > 0`` add their own linear deviation (coefficient offsets and an intercept
shift, scaled by ``h``) that a global model without the entity id cannot learn. The noise
is Gaussian with a known standard deviation, and the truth returned beside the panel holds
the noise-free mean of every row, so tests can compute the noise-floor MSE exactly.

Examples:
    >>> panel, truth = make_synthetic_panel(50, 20, 4, heterogeneity=1.0, noise=0.5, seed=0)
    >>> list(panel.columns[:3])
    ['entity_id', 'cutoff', 'target']
    >>> len(panel) == len(truth.mean)
    True

"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["SyntheticTruth", "make_synthetic_panel"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticTruth:
    """What generated a synthetic panel.

    Attributes:
        mean: Noise-free mean of every panel row, aligned with the panel's rows.
        noise: Standard deviation of the Gaussian noise added to ``mean``.
        entity_ids: Entity ids, in the order of the per-entity arrays below.
        heterogeneity: Per-entity scale of the planted deviation (0 means none).
        coef_offsets: Per-entity coefficient offsets, shape (entities, features).
        intercept_offsets: Per-entity intercept shifts.

    """

    mean: FloatArray
    noise: float
    entity_ids: npt.NDArray[np.str_]
    heterogeneity: FloatArray
    coef_offsets: FloatArray
    intercept_offsets: FloatArray

    @property
    def heterogeneous(self) -> npt.NDArray[np.bool_]:
        """Whether each entity has a planted deviation."""
        return np.asarray(self.heterogeneity > 0)


def _row_counts(
    rng: np.random.Generator, n_entities: int, rows_per_entity: int, few_rows_fraction: float
) -> npt.NDArray[np.int64]:
    counts = np.full(n_entities, rows_per_entity, dtype=np.int64)
    few = rng.random(n_entities) < few_rows_fraction
    upper = max(2, rows_per_entity // 4)
    counts[few] = rng.integers(1, upper + 1, size=int(few.sum()))
    return counts


def _heterogeneity(
    rng: np.random.Generator,
    n_entities: int,
    heterogeneity: float | npt.ArrayLike,
    heterogeneous_fraction: float,
) -> FloatArray:
    scale = np.broadcast_to(np.asarray(heterogeneity, dtype=np.float64), (n_entities,)).copy()
    if np.any(scale < 0):
        raise ValueError("heterogeneity must be >= 0")
    if heterogeneous_fraction < 1.0:
        scale[rng.random(n_entities) >= heterogeneous_fraction] = 0.0
    return scale


def _draw_means(
    rng: np.random.Generator,
    codes: npt.NDArray[np.int64],
    scale: FloatArray,
    n_features: int,
    n_countries: int,
) -> tuple[FloatArray, npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
    """Draw features and countries, the shared function and each entity's deviation.

    Returns the features, the country code and the noise-free mean of every row, and the
    per-entity coefficient and intercept offsets.
    """
    n_entities, n_rows = len(scale), len(codes)
    entity_centre = rng.normal(0.0, 1.0, size=(n_entities, n_features))
    features = entity_centre[codes] + rng.normal(0.0, 1.0, size=(n_rows, n_features))
    country_of_entity = rng.integers(0, n_countries, size=n_entities)
    country = country_of_entity[codes]
    beta = rng.normal(0.0, 1.0, size=n_features) / np.sqrt(n_features)
    country_effect = rng.normal(0.0, 0.5, size=n_countries)
    global_mean = features @ beta + 0.5 * np.sin(2.0 * features[:, 0]) + country_effect[country]
    coef_offsets = rng.normal(0.0, 1.0, size=(n_entities, n_features)) / np.sqrt(n_features)
    coef_offsets *= scale[:, None]
    intercept_offsets = rng.normal(0.0, 1.0, size=n_entities) * scale
    deviation = np.einsum("ij,ij->i", features, coef_offsets[codes]) + intercept_offsets[codes]
    return features, country, global_mean + deviation, coef_offsets, intercept_offsets


def _panel_frame(
    entity: npt.NDArray[np.str_],
    start: dt.date,
    day: npt.NDArray[np.int64],
    target: FloatArray,
    features: FloatArray,
    country: npt.NDArray[np.int64],
    n_countries: int,
) -> pd.DataFrame:
    """Assemble the panel in the glocal contract."""
    cutoff = pd.Timestamp(start) + pd.to_timedelta(day, unit="D")
    panel = pd.DataFrame(
        {
            "entity_id": pd.array(entity, dtype="str"),
            "cutoff": cutoff.astype("datetime64[ns]"),
            "target": target,
        }
    )
    for j in range(features.shape[1]):
        panel[f"x{j}"] = features[:, j]
    levels = [f"C{k}" for k in range(n_countries)]
    panel["country"] = pd.Categorical.from_codes(country, categories=pd.Index(levels))
    return panel


def make_synthetic_panel(
    n_entities: int,
    rows_per_entity: int,
    n_features: int,
    heterogeneity: float | npt.ArrayLike = 1.0,
    noise: float = 1.0,
    seed: int = 0,
    *,
    heterogeneous_fraction: float = 1.0,
    few_rows_fraction: float = 0.0,
    missing_rate: float = 0.0,
    n_countries: int = 3,
    start: dt.date = dt.date(2020, 1, 6),
    every_days: int = 7,
) -> tuple[pd.DataFrame, SyntheticTruth]:
    """Generate a panel in the glocal panel contract and the truth behind it.

    Args:
        n_entities: Number of entities.
        rows_per_entity: Rows (cutoffs) of a full-history entity.
        n_features: Numeric features ``x0 .. x{n-1}``; a categorical ``country`` is added.
        heterogeneity: Scale of each entity's planted deviation, a scalar or one value per
            entity; 0 means the entity follows the global function exactly.
        noise: Standard deviation of the Gaussian noise; ``noise**2`` is the noise floor.
        seed: Seed of the random generator.
        heterogeneous_fraction: Keep the deviation in about this fraction of entities only
            (the mixed case); the others get heterogeneity 0.
        few_rows_fraction: About this fraction of entities get between 1 and
            ``rows_per_entity // 4`` rows (thin history).
        missing_rate: Fraction of feature values replaced by NaN (the target never is).
        n_countries: Levels of the categorical ``country`` feature (it shifts the mean).
        start: Date of the first cutoff.
        every_days: Days between cutoffs.

    Returns:
        The panel (``entity_id``, ``cutoff``, ``target``, ``x*``, ``country``) sorted by
        entity and cutoff, where an entity's rows are its last cutoffs, and the truth.

    """
    if n_entities < 1 or rows_per_entity < 1 or n_features < 1:
        raise ValueError("n_entities, rows_per_entity and n_features must be >= 1")
    rng = np.random.default_rng(seed)
    counts = _row_counts(rng, n_entities, rows_per_entity, few_rows_fraction)
    scale = _heterogeneity(rng, n_entities, heterogeneity, heterogeneous_fraction)
    codes = np.repeat(np.arange(n_entities), counts)
    n_rows = int(counts.sum())
    # position of the row among the entity's cutoffs, counted from the last one
    ends = np.cumsum(counts)
    from_end = ends[codes] - np.arange(n_rows) - 1
    day = (rows_per_entity - 1 - from_end) * every_days

    features, country, mean, coef_offsets, intercept_offsets = _draw_means(
        rng, codes, scale, n_features, n_countries
    )
    target = mean + rng.normal(0.0, noise, size=n_rows)

    if missing_rate > 0:
        features[rng.random(features.shape) < missing_rate] = np.nan
    width = len(str(n_entities - 1))
    entity_ids = np.array([f"E{i:0{width}d}" for i in range(n_entities)])
    panel = _panel_frame(entity_ids[codes], start, day, target, features, country, n_countries)
    truth = SyntheticTruth(
        mean=mean,
        noise=float(noise),
        entity_ids=entity_ids,
        heterogeneity=scale,
        coef_offsets=coef_offsets,
        intercept_offsets=intercept_offsets,
    )
    return panel, truth
