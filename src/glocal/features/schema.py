"""The panel contract shared by every panel builder, and helpers to read it.

A panel is a pandas DataFrame with the key columns ``entity_id`` (string), ``cutoff``
(``datetime64[us]``) and ``target`` (float64, NaN where the future is not known yet),
followed by feature columns: float64 numerics, and ``category`` dtype for categoricals.
It is sorted by (``entity_id``, ``cutoff``) with one row per pair.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

__all__ = [
    "BASELINE_PREFIX",
    "CALENDAR_COLUMNS",
    "CUTOFF",
    "CUTOFF_DTYPE",
    "ENTITY",
    "KEY_COLUMNS",
    "TARGET",
    "calendar_features",
    "categorical_columns",
    "feature_columns",
    "finalize_panel",
]

ENTITY = "entity_id"
CUTOFF = "cutoff"
TARGET = "target"
KEY_COLUMNS = (ENTITY, CUTOFF, TARGET)
BASELINE_PREFIX: Final = "baseline_"
"""Feature columns named ``baseline_*`` are simple forecasts of the target, on its scale:
the model layer uses them as offsets and ensemble members (``docs/features.md``)."""
CALENDAR_COLUMNS: Final = ("cutoff_month", "cutoff_week_of_year", "cutoff_day_of_year")
"""Features that are functions of the cutoff's date alone: they move with the calendar by
construction, so drift checks leave them out."""
CUTOFF_DTYPE: Final = "datetime64[us]"
"""pandas 3's default resolution; every panel, generic or built, uses it."""


def calendar_features(cutoff: pd.Series) -> dict[str, np.ndarray]:
    """Return the :data:`CALENDAR_COLUMNS` of ``cutoff`` timestamps (float64 arrays)."""
    dates = cutoff.dt
    return {
        "cutoff_month": dates.month.to_numpy(dtype=np.float64),
        "cutoff_week_of_year": dates.isocalendar().week.to_numpy(dtype=np.float64),
        "cutoff_day_of_year": dates.day_of_year.to_numpy(dtype=np.float64),
    }


def feature_columns(panel: pd.DataFrame) -> list[str]:
    """Return the feature columns of a panel: every column but entity, cutoff and target.

    Examples:
        >>> frame = pd.DataFrame(columns=["entity_id", "cutoff", "target", "recency_days"])
        >>> feature_columns(frame)
        ['recency_days']

    """
    return [column for column in panel.columns if column not in KEY_COLUMNS]


def categorical_columns(panel: pd.DataFrame) -> list[str]:
    """Return the feature columns of ``category`` dtype, which models treat as categorical."""
    return [
        column
        for column in feature_columns(panel)
        if isinstance(panel[column].dtype, pd.CategoricalDtype)
    ]


def finalize_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Cast the key columns to the contract's dtypes, order the columns and sort the rows.

    Feature columns keep ``category`` dtype; every other feature becomes float64.
    """
    features = feature_columns(panel)
    out = panel[[*KEY_COLUMNS, *features]].copy()
    out[ENTITY] = out[ENTITY].astype(str)
    out[CUTOFF] = out[CUTOFF].astype(CUTOFF_DTYPE)
    out[TARGET] = out[TARGET].astype("float64")
    for column in features:
        if not isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("float64")
    out = out.sort_values([ENTITY, CUTOFF], kind="stable", ignore_index=True)
    return out
