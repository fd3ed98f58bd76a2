"""Per-feature distribution baselines and the population stability index (PSI).

A run stores, in its bundle, a small sketch of every feature's distribution on the rows it
was trained on (:func:`feature_baseline`); ``glocal monitor`` compares a later snapshot
with it (:func:`population_stability`). A numeric column's sketch is its decile edges and
the share of rows in each bin, plus the share of missing values; a categorical column's is
the share of its most frequent levels, the rest pooled as ``other``. The sketch has a
fixed size whatever the number of entities, and holds no entity id.

PSI of shares ``a`` (now) against ``e`` (baseline) over the same bins is
``sum((a - e) * ln(a / e))``, with every share floored at ``1e-4`` so that an empty bin
gives a large but finite value. Rules of thumb: below 0.1 stable, 0.1-0.25 a moderate
shift, above 0.25 a large one.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> before = pd.DataFrame({"x": rng.normal(size=5000)})
    >>> sketch = feature_baseline(before, ["x"])
    >>> same = population_stability(sketch, pd.DataFrame({"x": rng.normal(size=5000)}))
    >>> moved = population_stability(sketch, pd.DataFrame({"x": rng.normal(1, size=5000)}))
    >>> bool(same["x"] < 0.02), bool(moved["x"] > 0.25)
    (True, True)

"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BASELINE_FORMAT", "feature_baseline", "population_stability", "psi"]

BASELINE_FORMAT = 1
"""Version of the sketch layout; bumped when it changes."""

_QUANTILES = np.linspace(0.1, 0.9, 9)
_TOP_LEVELS = 20
_FLOOR = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Return the PSI of ``actual`` shares against ``expected`` shares (same bins)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins cut at ``edges`` (right-closed), then missing."""
    missing = np.isnan(values)
    bins = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(np.float64)
    counts = np.append(counts, missing.sum())
    return counts / max(len(values), 1)


def _numeric_sketch(column: pd.Series) -> dict[str, Any]:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, _QUANTILES)) if len(present) else np.array([])
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "shares": _numeric_shares(values, edges).tolist(),
    }


def _categorical_sketch(column: pd.Series) -> dict[str, Any]:
    shares = column.astype("string").fillna("<missing>").value_counts(normalize=True)
    top = shares.iloc[:_TOP_LEVELS]
    return {
        "kind": "categorical",
        "levels": [str(level) for level in top.index],
        "shares": [*top.to_numpy(dtype=np.float64).tolist(), float(1.0 - top.sum())],
    }


def feature_baseline(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Return the distribution sketch of each of ``columns`` of ``frame`` (JSON-ready).

    Numeric columns get decile bins; anything else (strings, categories) gets level shares.
    """
    sketches = {}
    for name in columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not isinstance(
            column.dtype, pd.CategoricalDtype
        )
        sketches[name] = _numeric_sketch(column) if numeric else _categorical_sketch(column)
    return {"format": BASELINE_FORMAT, "rows": len(frame), "columns": sketches}


def _current_shares(sketch: Mapping[str, Any], column: pd.Series) -> np.ndarray:
    if sketch["kind"] == "numeric":
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return _numeric_shares(values, np.asarray(sketch["edges"], dtype=np.float64))
    shares = column.astype("string").fillna("<missing>").value_counts(normalize=True)
    top = shares.reindex(sketch["levels"], fill_value=0.0).to_numpy(dtype=np.float64)
    return np.append(top, max(0.0, 1.0 - float(top.sum())))


def population_stability(baseline: Mapping[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """Return the PSI of every sketched column that ``frame`` holds, against ``baseline``.

    Columns of the baseline that ``frame`` lacks are left out (the caller reports them).
    """
    result = {}
    for name, sketch in baseline["columns"].items():
        if name in frame.columns:
            result[name] = psi(np.asarray(sketch["shares"]), _current_shares(sketch, frame[name]))
    return result
