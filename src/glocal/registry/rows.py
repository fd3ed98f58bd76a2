"""Conversions between pandas frames and registry rows, vectorized per column.

Database drivers want plain Python values: ``None`` for missing, aware datetimes, ``int``
not ``numpy.int64``. Converting column by column (not row by row through pandas) keeps
recording 100,000 entities well under a second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Dialect, Table

from glocal.core.errors import RegistryError
from glocal.registry.records import ENTITY_MODEL_COLUMNS, parse_time

__all__ = [
    "check_entity_frame",
    "entity_columns",
    "from_db_time",
    "insert_columns",
    "rows_frame",
]

_FLOATS = ("weight", "val_mse_global", "val_mse_local")
_INTS = ("n_train", "n_val")
_OPTIONAL_TEXT = ("candidate", "global_version_id")


def _optional_floats(values: pd.Series) -> list[float | None]:
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    listed: list[float | None] = array.tolist()
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array))
        for i in bad.tolist():
            listed[i] = None
    return listed


def _optional_text(values: pd.Series) -> list[str | None]:
    missing = values.isna().to_numpy()
    text: list[str | None] = list(values.astype(object).astype(str).tolist())
    for i in np.flatnonzero(missing).tolist():
        text[i] = None
    return text


def _times(values: pd.Series) -> list[dt.datetime]:
    stamps = pd.to_datetime(values, utc=True)
    codes, uniques = pd.factorize(stamps)
    if (codes < 0).any():
        raise RegistryError("column 'trained_at' of the entity models has missing values.")
    python = [parse_time(u.to_pydatetime()) for u in pd.DatetimeIndex(uniques)]
    return [python[c] for c in codes.tolist()]


def check_entity_frame(frame: pd.DataFrame) -> pd.Series:
    """Refuse a frame of entity models without every column or with an entity twice.

    Returns:
        The entity ids as text.

    """
    missing = [c for c in ENTITY_MODEL_COLUMNS if c not in frame.columns]
    if missing:
        raise RegistryError(
            f"the entity models frame lacks column(s) {missing}; build it with "
            "glocal.registry.entity_models_frame(model.decisions_, ...)."
        )
    entity_ids = frame["entity_id"].astype(object).astype(str)
    duplicated = entity_ids.duplicated()
    if duplicated.any():
        raise RegistryError(
            f"entity {entity_ids[duplicated].iloc[0]!r} appears more than once in the entity "
            "models of one run; each run has one row per entity."
        )
    return entity_ids


def entity_columns(frame: pd.DataFrame, run_id: str) -> dict[str, list[Any]]:
    """Return the ``entity_models`` values of ``frame`` column by column, as Python values."""
    entity_ids = check_entity_frame(frame)
    columns: dict[str, list[Any]] = {
        "run_id": [run_id] * len(frame),
        "entity_id": entity_ids.tolist(),
        "decision": frame["decision"].astype(str).tolist(),
        "reason": frame["reason"].astype(str).tolist(),
        "trained_at": _times(frame["trained_at"]),
        "carried_forward": frame["carried_forward"].to_numpy(dtype=bool).tolist(),
    }
    for name in _FLOATS:
        columns[name] = _optional_floats(frame[name])
    for name in _INTS:
        columns[name] = frame[name].to_numpy(dtype=np.int64).tolist()
    for name in _OPTIONAL_TEXT:
        columns[name] = _optional_text(frame[name])
    if any(value is None for value in columns["weight"]):
        raise RegistryError("column 'weight' of the entity models has missing values.")
    return columns


def _sqlite_native(table: Table, dialect: Dialect, columns: dict[str, list[Any]]) -> None:
    """Turn datetimes and booleans into what SQLAlchemy stores on SQLite, in place.

    Every other value is a plain ``str``, ``int``, ``float`` or ``None`` already. Datetimes
    are formatted once per distinct value by SQLAlchemy's own SQLite processor, so they
    read back through SQLAlchemy exactly as if it had written them.
    """
    process = table.c["trained_at"].type.dialect_impl(dialect).bind_processor(dialect)
    if process is not None:
        cache: dict[Any, Any] = {v: process(v) for v in set(columns["trained_at"])}
        columns["trained_at"] = [cache[v] for v in columns["trained_at"]]
    columns["carried_forward"] = [int(v) for v in columns["carried_forward"]]


def _copy_psycopg(connection: Connection, table: Table, columns: dict[str, list[Any]]) -> None:
    """Stream rows into PostgreSQL with ``COPY`` inside the connection's transaction."""
    names = ", ".join(f'"{name}"' for name in columns)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in zip(*columns.values(), strict=True):
                copy.write_row(row)
    finally:
        cursor.close()


def insert_columns(connection: Connection, table: Table, columns: dict[str, list[Any]]) -> None:
    """Insert rows given column by column, with one ``executemany``.

    On SQLite the statement goes to the driver directly with positional tuples: the
    per-row parameter handling of SQLAlchemy costs several times the insert itself
    (2.3 s against 0.4 s for 100,000 rows). On PostgreSQL with psycopg the rows are
    streamed with ``COPY`` (5.3 s with batched inserts). Elsewhere SQLAlchemy's batched
    insert is used.
    """
    if not columns or not next(iter(columns.values())):
        return
    if connection.dialect.driver == "psycopg":
        _copy_psycopg(connection, table, columns)
        return
    if connection.dialect.name != "sqlite":
        keys = list(columns)
        rows = [
            dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
        connection.execute(table.insert(), rows)
        return
    native = dict(columns)
    _sqlite_native(table, connection.dialect, native)
    compiled = table.insert().compile(dialect=connection.dialect, column_keys=list(native))
    order = compiled.positiontup or []
    connection.exec_driver_sql(
        str(compiled), list(zip(*(native[name] for name in order), strict=True))
    )


def from_db_time(value: dt.datetime | None) -> dt.datetime | None:
    """Return a datetime read from the database as aware UTC (SQLite drops the zone)."""
    return None if value is None else parse_time(value)


def rows_frame(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Build a frame of result ``rows`` (tuples) with ``columns``; datetimes become UTC."""
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(columns))
    for column in ("created_at", "trained_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
