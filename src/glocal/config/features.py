"""Settings of the feature layer: snapshots, windows, generic panel mode and the time split."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from glocal.config.base import Section

__all__ = ["FeatureSettings", "PanelSettings", "SplitSettings"]


class FeatureSettings(Section):
    """Point-in-time snapshots built from cleaned transactions."""

    cutoff_every_days: int = Field(default=7, gt=0, description="Days between two cutoffs.")
    cutoff_anchor: dt.date = Field(
        default=dt.date(2000, 1, 3),
        description=(
            "A calendar date every cutoff is a whole number of periods away from "
            "(2000-01-03 is a Monday, so weekly cutoffs fall on Mondays)."
        ),
    )
    horizon_days: int = Field(
        default=30, gt=0, description="Target: net spend over this many days."
    )
    windows_days: list[int] = Field(
        default_factory=lambda: [7, 30, 90, 180, 365],
        description="Look-back windows for recency/frequency/monetary features.",
    )
    first_cutoff: dt.date | None = Field(
        default=None,
        description="Earliest cutoff; empty means the first one after the data starts.",
    )
    last_cutoff: dt.date | None = Field(
        default=None, description="Latest cutoff; empty means the last one before the data ends."
    )


class PanelSettings(Section):
    """Generic panel mode: bring your own (entity, time, features, target) table."""

    mode: Literal["transactions", "panel"] = Field(
        default="transactions",
        description="'transactions' builds the panel from raw transactions; 'panel' reads one.",
    )
    entity_column: str = Field(default="entity_id", description="Entity id column of the panel.")
    time_column: str = Field(default="cutoff", description="Snapshot time column of the panel.")
    target_column: str = Field(default="target", description="Target column of the panel.")
    feature_columns: list[str] | None = Field(
        default=None, description="Feature columns; empty means every other column."
    )
    categorical_columns: list[str] = Field(
        default_factory=list, description="Feature columns to treat as categories."
    )


class SplitSettings(Section):
    """Out-of-time split of the panel into train, validation and test blocks by cutoff."""

    validation_days: int = Field(default=56, gt=0, description="Length of the validation block.")
    test_days: int = Field(default=28, gt=0, description="Length of the test block.")
    embargo_days: int | None = Field(
        default=None,
        ge=0,
        description="Gap between blocks; empty means one horizon, the least that avoids leakage.",
    )
