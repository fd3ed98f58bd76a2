"""Production training layout, the global model's cadence and validation metrics.

In production there is no test block: every row with a known target is used. The layout is
``train | embargo | validation``, with validation the last ``split.validation_days`` of
cutoffs whose target is known and an embargo of one horizon (or ``split.embargo_days``)
before it, so no training target window reaches a validation cutoff. The hybrid model
decides per entity on validation and then refits on train + validation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from glocal.config.features import SplitSettings
from glocal.core.errors import ConfigError, DataValidationError

__all__ = ["ProductionSplit", "global_retrain_due", "production_split", "validation_metrics"]


@dataclass(frozen=True)
class ProductionSplit:
    """Train and validation rows of the production layout and their cutoff ranges."""

    train: pd.DataFrame
    validation: pd.DataFrame
    embargo_days: int

    def to_dict(self) -> dict[str, Any]:
        """Return first/last cutoff, rows and entities of each block (for metrics)."""
        summary: dict[str, Any] = {"embargo_days": self.embargo_days}
        for name, block in (("train", self.train), ("validation", self.validation)):
            summary[name] = {
                "start": block["cutoff"].min().date().isoformat(),
                "end": block["cutoff"].max().date().isoformat(),
                "rows": len(block),
                "entities": int(block["entity_id"].nunique()),
            }
        return summary


def production_split(
    panel: pd.DataFrame, split: SplitSettings, horizon_days: int
) -> ProductionSplit:
    """Split the rows with a known target into ``train | embargo | validation``.

    With ``L`` the last cutoff with a known target, validation is ``(L - v, L]`` and train
    every cutoff ``<= L - v - e`` (``v = split.validation_days``, ``e`` the embargo).

    Raises:
        ConfigError: The embargo is shorter than the horizon.
        DataValidationError: No known target, or too little history for both blocks.

    Examples:
        >>> cutoffs = pd.date_range("2011-01-03", periods=20, freq="7D")
        >>> panel = pd.DataFrame({"entity_id": "a", "cutoff": cutoffs, "target": 1.0})
        >>> layout = production_split(panel, SplitSettings(validation_days=28), 14)
        >>> len(layout.train), len(layout.validation)
        (14, 4)

    """
    embargo = horizon_days if split.embargo_days is None else split.embargo_days
    if embargo < horizon_days:
        raise ConfigError(
            f"split.embargo_days={embargo} is shorter than features.horizon_days="
            f"{horizon_days}: training targets would overlap the validation block. Set "
            f"split.embargo_days to at least {horizon_days}, or leave it empty."
        )
    known = panel[panel["target"].notna()]
    if known.empty:
        raise DataValidationError(
            "no row of the panel has a known target, so there is nothing to train on: the "
            f"target needs {horizon_days} days of data after a cutoff. Provide more history."
        )
    last = known["cutoff"].max()
    validation_start = last - pd.Timedelta(days=split.validation_days)
    train_end = validation_start - pd.Timedelta(days=embargo)
    cutoff = known["cutoff"]
    train = known[cutoff <= train_end]
    validation = known[cutoff > validation_start]
    if train.empty:
        needed = split.validation_days + embargo
        raise DataValidationError(
            f"too little history to train: cutoffs with a known target run from "
            f"{cutoff.min().date()} to {last.date()}, but the production layout needs them "
            f"to span more than {needed} days (split.validation_days={split.validation_days} "
            f"+ embargo {embargo}). Provide more history or lower split.validation_days."
        )
    return ProductionSplit(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        embargo_days=embargo,
    )


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
    """Pooled validation MSE of the global model and of the hybrid choice, per decision rows.

    Computed from the decision records (``n_val`` rows per entity, their global MSE and
    the best candidate's MSE), i.e. on the validation rows of entities with training rows.
    The hybrid figure is measured on the block the choice was made on, so it is optimistic;
    ``glocal evaluate`` gives the honest out-of-sample comparison on a held-out test block.
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
