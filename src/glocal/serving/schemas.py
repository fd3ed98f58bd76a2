"""Request and response bodies of the HTTP API, one model per purpose."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BatchRequest",
    "BatchResponse",
    "EntityCard",
    "Health",
    "PredictRequest",
    "PredictResponse",
]


class PredictRequest(BaseModel):
    """One prediction request."""

    model_config = ConfigDict(extra="forbid")

    entity_id: str = Field(min_length=1, max_length=256, description="The entity to predict.")
    features: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Every feature of the model by name (numbers; categorical ones as strings; null "
            "for a missing value). Omit or null: use the entity's latest snapshot."
        ),
    )


class PredictResponse(BaseModel):
    """One served prediction."""

    entity_id: str
    prediction: float
    source: str = Field(
        description="'global', 'local', 'blend', or 'global_unknown_entity' for an entity "
        "the production run has no decision for."
    )
    global_prediction: float = Field(description="The global stage's prediction (shadow).")
    run_id: str = Field(description="The production run that answered.")
    cutoff: str | None = Field(
        description="Date of the snapshot answered from; null when features were sent."
    )


class BatchRequest(BaseModel):
    """Several prediction requests, answered by one production run."""

    model_config = ConfigDict(extra="forbid")

    items: list[PredictRequest] = Field(min_length=1)


class BatchResponse(BaseModel):
    """The answers of a batch, in request order."""

    predictions: list[PredictResponse]


class EntityCard(BaseModel):
    """An entity's model card: its decision under production and its history."""

    entity_id: str
    production_run_id: str | None
    current: dict[str, Any] | None
    latest: dict[str, Any]
    history: list[dict[str, Any]]


class Health(BaseModel):
    """Liveness and readiness."""

    status: str
    run_id: str | None
