"""The registry's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

``schema_info`` holds the schema version; a registry written by a newer glocal is refused
rather than misread. Indexes serve the two hot reads: one entity's model card across runs
(``entity_models`` by entity) and the run list (``runs`` by creation time).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "SCHEMA_VERSION",
    "alias_history",
    "aliases",
    "demotions",
    "entity_models",
    "global_models",
    "metadata",
    "runs",
    "schema_info",
]

SCHEMA_VERSION = 2
"""Version of these tables; bump it (and add a migration) whenever they change.

1 -> 2 added ``demotions`` (a new table only: the migration creates it).
"""

_ID = 128
_JSON = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

schema_info = Table(
    "schema_info",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("glocal_version", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(_ID), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(32), nullable=False),
    Column("data_version", String(_ID), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("code_version", String(_ID), nullable=False),
    Column("bundle_path", Text, nullable=False),
    Column("metrics", _JSON, nullable=False),
    Column("global_version_id", String(_ID)),
    Column("parent_run_id", String(_ID)),
    Column("summary", _JSON, nullable=False),
    Index("ix_runs_created_at", "created_at"),
)

global_models = Table(
    "global_models",
    metadata,
    Column("version_id", String(_ID), primary_key=True),
    Column("run_id", String(_ID), ForeignKey("runs.run_id"), nullable=False),
    Column("trained_at", DateTime(timezone=True), nullable=False),
    Column("data_version", String(_ID), nullable=False),
    Column("best_iteration", Integer),
    Column("uses_entity_feature", Boolean, nullable=False),
)

entity_models = Table(
    "entity_models",
    metadata,
    Column("run_id", String(_ID), ForeignKey("runs.run_id"), primary_key=True),
    Column("entity_id", String(256), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("candidate", String(64)),
    Column("weight", Float, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("n_train", Integer, nullable=False),
    Column("n_val", Integer, nullable=False),
    Column("val_mse_global", Float),
    Column("val_mse_local", Float),
    Column("trained_at", DateTime(timezone=True), nullable=False),
    Column("global_version_id", String(_ID)),
    Column("carried_forward", Boolean, nullable=False),
    Index("ix_entity_models_entity", "entity_id", "run_id"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("run_id", String(_ID), ForeignKey("runs.run_id"), nullable=False),
    Column("previous_run_id", String(_ID)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("run_id", String(_ID), nullable=False),
    Column("previous_run_id", String(_ID)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_alias_history_name", "name", "id"),
)

demotions = Table(
    "demotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_id", String(256), nullable=False),
    Column("demoted_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("run_id", String(_ID)),
    Column("served_loss", Float, nullable=False),
    Column("global_loss", Float, nullable=False),
    Column("periods", Integer, nullable=False),
    Column("p_value", Float, nullable=False),
    Index("ix_demotions_entity", "entity_id", "demoted_at"),
    Index("ix_demotions_until", "until"),
)
