"""Settings of the model registry."""

from __future__ import annotations

from pydantic import Field

from glocal.config.base import Section

__all__ = ["RegistrySettings"]


class RegistrySettings(Section):
    """Where runs, models and aliases are recorded."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means SQLite at models/registry.db.",
    )
