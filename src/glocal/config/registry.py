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
    keep_bundles: int | None = Field(
        default=30,
        ge=1,
        description=(
            "After each glocal run, delete the bundles of all but the newest this many runs "
            "(runs an alias points to, and rollback targets, are always kept; records stay). "
            "null keeps every bundle."
        ),
    )
