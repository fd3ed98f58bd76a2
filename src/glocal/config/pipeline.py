"""Settings of the end-to-end pipeline (``glocal run``): cadence of the global model."""

from __future__ import annotations

from pydantic import Field

from glocal.config.base import Section

__all__ = ["PipelineSettings"]


class PipelineSettings(Section):
    """How often the daily pipeline retrains and re-chooses the global model."""

    global_retrain_days: int = Field(
        default=7,
        ge=0,
        description=(
            "Retrain the global model once the data has advanced this many days past the "
            "data it was trained on; 0 retrains it on every run with new data. Local models "
            "are retrained daily for changed entities."
        ),
    )
    global_reselect_days: int = Field(
        default=28,
        ge=0,
        description=(
            "A due global retraining is a full fit (the global ensemble's members, sizes and "
            "entity-id choice chosen again on validation folds, every entity re-selected) "
            "once the last full fit's data is this many days old; in between it refreshes: "
            "the chosen learners are refitted on the latest history and the changed entities "
            "re-selected against them. 0 makes every global retraining a full fit."
        ),
    )
    demo_customers: int = Field(
        default=600,
        ge=50,
        description="Customers of the demo data that `glocal run` generates in an empty workspace.",
    )
