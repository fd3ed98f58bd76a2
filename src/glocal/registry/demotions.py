"""Per-entity demotions: entities that ``glocal monitor`` sent back to the global model.

A demotion is recorded with the evidence that caused it (served and shadow global loss,
the realized predictions counted, the one-sided p-value) and lasts until ``until``; every
run until then keeps the entity on the global model (reason ``DEMOTED``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select

from glocal.core.errors import RegistryError
from glocal.registry.rows import from_db_time
from glocal.registry.schema import demotions

__all__ = ["DEMOTION_COLUMNS", "insert_demotions", "select_active_demotions"]

DEMOTION_COLUMNS = (
    "entity_id",
    "demoted_at",
    "until",
    "run_id",
    "served_loss",
    "global_loss",
    "periods",
    "p_value",
)
"""Columns of a demotion record."""


def insert_demotions(connection: Connection, frame: pd.DataFrame) -> int:
    """Insert one demotion per row of ``frame`` (columns :data:`DEMOTION_COLUMNS`)."""
    missing = [c for c in DEMOTION_COLUMNS if c not in frame.columns]
    if missing:
        raise RegistryError(f"demotion records lack column(s) {', '.join(missing)}.")
    if frame["entity_id"].duplicated().any():
        raise RegistryError("demotion records name an entity more than once.")
    records = frame.loc[:, list(DEMOTION_COLUMNS)].astype({"entity_id": str}).to_dict("records")
    rows: list[dict[str, Any]] = [{str(k): v for k, v in record.items()} for record in records]
    for row in rows:
        for key in ("demoted_at", "until"):
            row[key] = pd.Timestamp(row[key]).to_pydatetime()
        row["periods"] = int(row["periods"])
        row["run_id"] = None if pd.isna(row["run_id"]) else str(row["run_id"])
    if rows:
        connection.execute(demotions.insert(), rows)
    return len(rows)


def select_active_demotions(connection: Connection, at: dt.datetime) -> pd.DataFrame:
    """Return the latest demotion of every entity still in force at ``at``."""
    latest = (
        select(demotions.c.entity_id, func.max(demotions.c.demoted_at).label("demoted_at"))
        .where(demotions.c.demoted_at <= at, demotions.c.until > at)
        .group_by(demotions.c.entity_id)
        .subquery()
    )
    query = (
        select(*[demotions.c[c] for c in DEMOTION_COLUMNS])
        .join(
            latest,
            (demotions.c.entity_id == latest.c.entity_id)
            & (demotions.c.demoted_at == latest.c.demoted_at),
        )
        .order_by(demotions.c.entity_id)
    )
    frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=DEMOTION_COLUMNS)
    frame = frame.drop_duplicates("entity_id", keep="last").reset_index(drop=True)
    for key in ("demoted_at", "until"):
        frame[key] = pd.to_datetime(pd.Series([from_db_time(v) for v in frame[key]]), utc=True)
    return frame
