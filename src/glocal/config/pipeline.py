"""Settings of the end-to-end pipeline (``glocal run``): cadence of the global model."""

from __future__ import annotations

from pydantic import Field

from glocal.config.base import Section

__all__ = ["PipelineSettings"]


class PipelineSettings(Section):
    """How often the daily pipeline retrains the global model."""

    global_retrain_days: int = Field(
        default=7,
        ge=0,
        description=(
            "Retrain the global model (and re-select every entity) once the data has "
            "advanced this many days past the data it was trained on; 0 retrains it on "
            "every run with new data. Local models are retrained daily for changed entities."
        ),
    )
    demo_customers: int = Field(
        default=600,
        ge=50,
        description="Customers of the demo data that `glocal run` generates in an empty workspace.",
    )
