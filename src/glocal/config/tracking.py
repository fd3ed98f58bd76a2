"""Settings of experiment tracking: MLflow, when a tracking URI is given."""

from __future__ import annotations

from pydantic import Field

from glocal.config.base import Section

__all__ = ["TrackingSettings"]


class TrackingSettings(Section):
    """Where each `glocal run` is logged, and under which registered model name."""

    mlflow_uri: str | None = Field(
        default=None,
        description=(
            "MLflow tracking URI (e.g. sqlite:///mlflow.db or http://mlflow:5000); null logs "
            "nothing. Each new run then logs its parameters, metrics and metrics.json, and "
            "registers the whole bundle as one pyfunc model version. Needs the mlflow extra."
        ),
    )
    experiment: str = Field(default="glocal", min_length=1, description="MLflow experiment.")
    model_name: str = Field(
        default="glocal",
        min_length=1,
        description="Registered model name; every run is a new version of it.",
    )
