"""Production training layout, the global model's cadence and validation metrics.

In production there is no test block: every row with a known target is the history the
hybrid model is fitted on, and it lays its validation folds inside it (the most recent
``split.folds`` x ``split.validation_days`` of cutoffs, each with its own embargo).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from glocal.config.features import SplitSettings
from glocal.core.errors import DataValidationError
from glocal.features import (
    Fold,
    feature_baseline,
    feature_columns,
    resolve_embargo,
    rolling_folds,
)
from glocal.features.schema import CALENDAR_COLUMNS

__all__ = [
    "BASELINE_CUTOFFS",
    "ProductionSplit",
    "drift_baseline",
    "global_retrain_due",
    "production_split",
    "validation_metrics",
]

BASELINE_CUTOFFS = 4
"""The drift baseline describes the rows of this many latest cutoffs with a known target."""


@dataclass(frozen=True)
class ProductionSplit:
    """The production history (every known target) and its validation folds."""

    history: pd.DataFrame
    folds: list[Fold]
    embargo_days: int

    def to_dict(self) -> dict[str, Any]:
        """Return the history's first/last cutoff, rows, entities and the folds (for metrics)."""
        history = self.history
        return {
            "embargo_days": self.embargo_days,
            "history": {
                "start": history["cutoff"].min().date().isoformat(),
                "end": history["cutoff"].max().date().isoformat(),
                "rows": len(history),
                "entities": int(history["entity_id"].nunique()),
            },
            "folds": [fold.to_dict() for fold in self.folds],
        }


def production_split(
    panel: pd.DataFrame, split: SplitSettings, horizon_days: int
) -> ProductionSplit:
    """Return every row with a known target, and check the folds fit inside it.

    Raises:
        ConfigError: The embargo is shorter than the horizon.
        DataValidationError: No known target, or too little history for the folds.

    Examples:
        >>> cutoffs = pd.date_range("2011-01-03", periods=20, freq="7D")
        >>> panel = pd.DataFrame({"entity_id": "a", "cutoff": cutoffs, "target": 1.0})
        >>> layout = production_split(panel, SplitSettings(validation_days=14, folds=2), 14)
        >>> len(layout.history), [fold.to_dict()["start"] for fold in layout.folds]
        (20, ['2011-05-02', '2011-04-18'])

    """
    embargo = resolve_embargo(split, horizon_days)
    known = panel[panel["target"].notna()]
    if known.empty:
        raise DataValidationError(
            "no row of the panel has a known target, so there is nothing to train on: the "
            f"target needs {horizon_days} days of data after a cutoff. Provide more history."
        )
    folds = rolling_folds(known["cutoff"], split.folds, split.validation_days, embargo)
    return ProductionSplit(history=known.reset_index(drop=True), folds=folds, embargo_days=embargo)


def global_retrain_due(
    trained_data_end: dt.date | None,
    data_end: dt.date,
    cadence_days: int,
    forced: bool = False,
) -> tuple[bool, str]:
    """Return whether the global model must be retrained, and why.

    The age of the global model is measured in *data time*: days between the end of the
    data it was trained on and the end of today's data. A run on unchanged data never
    makes it older, and replaying daily files of the past retrains it on the same days as
    running live would.

    Examples:
        >>> global_retrain_due(dt.date(2011, 1, 1), dt.date(2011, 1, 5), 7)
        (False, 'global model is 4 days old (cadence 7 days)')
        >>> global_retrain_due(dt.date(2011, 1, 1), dt.date(2011, 1, 8), 7)[0]
        True

    """
    if forced:
        return True, "--retrain-global was given"
    if trained_data_end is None:
        return True, "no global model yet"
    age = (data_end - trained_data_end).days
    if age >= cadence_days and age > 0:
        return True, f"global model is {age} days old (cadence {cadence_days} days)"
    return False, f"global model is {age} days old (cadence {cadence_days} days)"


def validation_metrics(decisions: pd.DataFrame) -> dict[str, Any]:
    """Pooled validation loss of the global stage and of the hybrid choice, per decision rows.

    Computed from the decision records (``n_val`` rows per entity over every fold, their
    global loss and the best candidate's), i.e. on the out-of-time validation rows. The
    hybrid figure is measured on the rows the choice was made on, so it is optimistic;
    the population guard's held-out figures (``guard``) and ``glocal evaluate`` are the
    honest ones.
    """
    n_val = decisions["n_val"].to_numpy(dtype=np.float64)
    mse_global = np.nan_to_num(decisions["val_mse_global"].to_numpy(dtype=np.float64))
    mse_local = decisions["val_mse_local"].to_numpy(dtype=np.float64)
    chosen = (decisions["decision"] != "global").to_numpy()
    mse_hybrid = np.where(chosen & np.isfinite(mse_local), mse_local, mse_global)
    rows = float(n_val.sum())
    global_mse = float((n_val * mse_global).sum() / rows) if rows else float("nan")
    hybrid_mse = float((n_val * mse_hybrid).sum() / rows) if rows else float("nan")
    return {
        "rows": int(rows),
        "entities": int((n_val > 0).sum()),
        "global_mse": global_mse,
        "hybrid_mse": hybrid_mse,
        "hybrid_vs_global": hybrid_mse / global_mse - 1 if global_mse else float("nan"),
        "decisions": {str(k): int(v) for k, v in decisions["decision"].value_counts().items()},
    }


def drift_baseline(history: pd.DataFrame) -> dict[str, Any]:
    """Sketch every feature and the target on the latest training cutoffs (for drift checks).

    The rows are those of the :data:`BASELINE_CUTOFFS` latest cutoffs of ``history`` (rows
    with a known target): the population a model was last fitted on, one row per entity
    and cutoff, as comparable as can be with a later one-row-per-entity snapshot. The
    calendar features (:data:`~glocal.features.schema.CALENDAR_COLUMNS`) are left out:
    they move with the date by construction.
    """
    cutoffs = np.sort(history["cutoff"].unique())[-BASELINE_CUTOFFS:]
    recent = history.loc[history["cutoff"].isin(cutoffs)]
    columns = [c for c in feature_columns(recent) if c not in CALENDAR_COLUMNS]
    sketch = feature_baseline(recent, [*columns, "target"])
    sketch["cutoffs"] = [pd.Timestamp(c).date().isoformat() for c in cutoffs]
    return sketch
