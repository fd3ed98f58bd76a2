"""The root settings object: one typed section per layer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from glocal.config.base import Section
from glocal.config.data import CleaningSettings, ColumnsSettings
from glocal.config.engine import Engine, SparkSettings
from glocal.config.features import FeatureSettings, PanelSettings, SplitSettings
from glocal.config.models import (
    GlobalModelSettings,
    LocalModelSettings,
    Objective,
    SelectionSettings,
)
from glocal.config.monitoring import MonitoringSettings
from glocal.config.pipeline import PipelineSettings
from glocal.config.registry import RegistrySettings
from glocal.config.serving import ServingSettings
from glocal.config.storage import StorageSettings
from glocal.config.tracking import TrackingSettings

__all__ = ["Settings"]


class Settings(Section):
    """Every setting of glocal, validated at load.

    Examples:
        >>> Settings().features.horizon_days
        30
        >>> Settings.model_validate({"features": {"horizon_days": 14}}).features.horizon_days
        14

    """

    seed: int = Field(default=42, description="Seed for everything random.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Console log level."
    )
    objective: Objective = Field(
        default="mse",
        description=(
            "The loss to minimise: 'mse' (forecast the mean) or 'mae' (something near the "
            "median). The global model, the local candidates, the selection and the "
            "evaluation all use it."
        ),
    )
    engine: Engine = Field(
        default="local",
        description=(
            "Where glocal run's heavy steps run: 'local' (this process, every core) or "
            "'spark' (the cluster of the spark section: the panel by Spark SQL, the "
            "per-entity ridge fits, batch scoring; needs the spark extra)."
        ),
    )
    columns: ColumnsSettings = Field(default_factory=ColumnsSettings)
    cleaning: CleaningSettings = Field(default_factory=CleaningSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)
    split: SplitSettings = Field(default_factory=SplitSettings)
    global_model: GlobalModelSettings = Field(default_factory=GlobalModelSettings)
    local_models: LocalModelSettings = Field(default_factory=LocalModelSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)

    @field_validator("storage")
    @classmethod
    def _shared_registry_for_remote_storage(
        cls, storage: StorageSettings, info: ValidationInfo
    ) -> StorageSettings:
        registry = info.data.get("registry")
        if storage.url is not None and registry is not None and registry.url is None:
            raise ValueError(
                f"storage.url is {storage.url}, so registry.url must name a shared "
                "database (e.g. postgresql+psycopg://user@host/glocal): the default SQLite "
                "registry would live in a temporary directory and be lost"
            )
        return storage
