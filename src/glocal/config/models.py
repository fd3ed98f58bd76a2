"""Settings of the model layer: the global learner, the local bank and per-entity selection."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from glocal.config.base import Section

__all__ = ["GlobalModelSettings", "LocalModelSettings", "SelectionSettings"]


class GlobalModelSettings(Section):
    """The global model trained on every entity's rows."""

    estimator: str = Field(
        default="lightgbm",
        description="'lightgbm' or a scikit-learn regressor name, e.g. RandomForestRegressor.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the estimator."
    )
    early_stopping_rounds: int = Field(
        default=50, gt=0, description="LightGBM stops when validation loss has not improved."
    )


class LocalModelSettings(Section):
    """The bank of per-entity regularized linear models."""

    alphas: list[float] = Field(
        default_factory=lambda: [0.1, 1.0, 10.0, 100.0, 1000.0],
        description="Ridge penalties tried, per row of the entity.",
    )
    min_train_rows: int = Field(default=8, gt=0, description="Fewer rows: no local model.")


class SelectionSettings(Section):
    """Guardrails on choosing local over global per entity."""

    min_validation_rows: int = Field(default=4, gt=0, description="Fewer rows: global.")
    significance: float = Field(
        default=0.05, gt=0, lt=1, description="Level of the paired test local vs global."
    )
