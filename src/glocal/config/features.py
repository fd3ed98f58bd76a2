"""Settings of the feature layer: snapshots, windows, generic panel mode and the time split."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from glocal.config.base import Section

__all__ = ["FeatureSettings", "PanelSettings", "SplitSettings"]

PositiveDays = Annotated[int, Field(gt=0)]


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
    windows_days: list[PositiveDays] = Field(
        default_factory=lambda: [7, 30, 90, 180, 365],
        min_length=1,
        description="Look-back windows for recency/frequency/monetary features.",
    )
    detail_window_days: int = Field(
        default=90,
        gt=0,
        description="Look-back window of the returns, basket-size and distinct-product features.",
    )
    trend_buckets: int = Field(
        default=6, ge=2, description="Number of buckets the spend-trend slope is fitted over."
    )
    trend_bucket_days: int = Field(
        default=30, gt=0, description="Length in days of one spend-trend bucket."
    )
    naive_window_days: int = Field(
        default=365,
        gt=0,
        description=(
            "Look-back window of the naive forecast (column baseline_naive): the net spend of "
            "the last this many days, scaled to the horizon."
        ),
    )
    btyd: bool = Field(
        default=True,
        description=(
            "Fit BG/NBD + Gamma-Gamma at every cutoff and add its expected spend over the "
            "horizon as the column baseline_btyd."
        ),
    )
    first_cutoff: dt.date | None = Field(
        default=None,
        description="Earliest cutoff; empty means the first one after the data starts.",
    )
    last_cutoff: dt.date | None = Field(
        default=None, description="Latest cutoff; empty means the last one before the data ends."
    )

    @field_validator("windows_days")
    @classmethod
    def _windows_unique(cls, value: list[int]) -> list[int]:
        duplicates = sorted({days for days in value if value.count(days) > 1})
        if duplicates:
            raise ValueError(f"windows must be distinct; {duplicates} appear more than once")
        return value

    @model_validator(mode="after")
    def _cutoff_range_ordered(self) -> FeatureSettings:
        if (
            self.first_cutoff is not None
            and self.last_cutoff is not None
            and self.first_cutoff > self.last_cutoff
        ):
            raise ValueError(
                f"first_cutoff {self.first_cutoff} is after last_cutoff {self.last_cutoff}; "
                "swap them or leave one empty"
            )
        return self


class PanelSettings(Section):
    """Generic panel mode: bring your own (entity, time, features, target) table."""

    mode: Literal["transactions", "panel"] = Field(
        default="transactions",
        description="'transactions' builds the panel from raw transactions; 'panel' reads one.",
    )
    path: Path | None = Field(
        default=None,
        description="CSV or Parquet file of the panel in 'panel' mode (or pass --panel FILE).",
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
    """Out-of-time split: rolling validation folds inside the history, then a test block."""

    validation_days: int = Field(
        default=28, gt=0, description="Length of each rolling-origin validation fold."
    )
    folds: int = Field(
        default=3,
        ge=2,
        description=(
            "Validation folds laid back to back, going back in time from the end of the "
            "history; each is predicted by models trained on the rows before it (minus the "
            "embargo)."
        ),
    )
    test_days: int = Field(default=28, gt=0, description="Length of the test block.")
    embargo_days: int | None = Field(
        default=None,
        ge=0,
        description="Gap between blocks; empty means one horizon, the least that avoids leakage.",
    )
