"""How the hybrid model lays out its validation folds, and how dependent their rows are.

The folds themselves are the feature layer's (:func:`glocal.features.split.rolling_folds`):
fold 0 is the most recent block of ``split.validation_days`` of cutoffs, fold 1 the block
before it, each with its own training cut ``embargo`` days before its first cutoff. Every
decision the hybrid model makes (which global components to keep, whether the entity id
helps, which entity leaves the global model, how strict the test must be) is made on the
pooled, out-of-time predictions of these folds. This module adds the one rule both the
CLI and library users share: how many Newey-West lags the overlap of target windows needs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glocal.features.split import Fold, rolling_folds

__all__ = ["Fold", "cutoff_spacing_days", "dependence_lags", "rolling_folds"]


def cutoff_spacing_days(cutoffs: pd.Series) -> int:
    """Return the typical number of days between consecutive distinct cutoffs (>= 1).

    Examples:
        >>> cutoff_spacing_days(pd.Series(pd.date_range("2011-01-03", periods=5, freq="7D")))
        7

    """
    distinct = np.unique(np.asarray(cutoffs, dtype="datetime64[D]"))
    if len(distinct) < 2:
        return 1
    gaps = np.diff(distinct).astype(np.int64)
    return max(1, int(np.median(gaps)))


def dependence_lags(horizon_days: int, spacing_days: int) -> int:
    """Return the Newey-West lags for targets over ``horizon_days`` every ``spacing_days``.

    Consecutive snapshots whose target windows overlap give correlated errors; the paired
    test accounts for as many lags as windows overlap.

    Examples:
        >>> dependence_lags(30, 7), dependence_lags(30, 30), dependence_lags(30, 3)
        (4, 0, 9)

    """
    return max(0, math.ceil(horizon_days / max(spacing_days, 1)) - 1)
