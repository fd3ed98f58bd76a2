"""Connecting to the registry database and checking its schema version.

SQLite (the default, ``models/registry.db``) runs in WAL mode, so readers never wait for
a writer, and write transactions start with ``BEGIN IMMEDIATE``, so two writers queue
instead of failing halfway. PostgreSQL gets a short connect timeout, so an unreachable
server fails fast with a clear message before anything is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

import glocal
from glocal.config import Workspace
from glocal.core.errors import RegistryError, RegistryUnavailableError, SchemaVersionError
from glocal.registry.schema import SCHEMA_VERSION, metadata, schema_info

__all__ = ["WRITE", "create_registry_engine", "ensure_schema", "safe_url", "unavailable"]

WRITE = {"glocal_write": True}
"""Execution options of a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""

CONNECT_TIMEOUT_SECONDS = 3
_SQLITE_BUSY_TIMEOUT_SECONDS = 30


def safe_url(url: URL) -> str:
    """Render ``url`` with its password hidden, for messages."""
    return url.render_as_string(hide_password=True)


def _parse(url: str | None, workspace: Workspace) -> URL:
    if url is None or not url.strip():
        path = workspace.models_dir / "registry.db"
        return URL.create("sqlite+pysqlite", database=str(path))
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise RegistryError(
            f"registry.url {url!r} is not a SQLAlchemy URL ({exc}); use e.g. "
            "postgresql+psycopg://user:password@host:5432/db, or leave it empty for SQLite "
            "at models/registry.db."
        ) from None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy, not the sqlite3 module, decide where transactions begin
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("glocal_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def unavailable(url: URL, exc: BaseException) -> RegistryUnavailableError:
    """Return the error that says the registry at ``url`` cannot be reached, and why."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    return RegistryUnavailableError(
        f"cannot reach the registry at {safe_url(url)}: {reason}. Check registry.url in "
        "config/settings.yaml (or GLOCAL_REGISTRY__URL) and that the database is running "
        "and reachable; nothing was written."
    )


def create_registry_engine(url: str | None, workspace: Workspace) -> Engine:
    """Return a connected engine for ``url`` (``None``: SQLite in the workspace).

    Raises:
        RegistryError: ``url`` is malformed or names an unknown database.
        RegistryUnavailableError: The database cannot be reached or its driver is missing.

    """
    parsed = _parse(url, workspace)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = _SQLITE_BUSY_TIMEOUT_SECONDS
        if parsed.database and parsed.database != ":memory:":
            workspace.models_dir.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except NoSuchModuleError:
        raise RegistryError(
            f"registry.url {safe_url(parsed)} names a database SQLAlchemy does not know; "
            "use sqlite:///path or postgresql+psycopg://..."
        ) from None
    except ImportError as exc:
        raise RegistryUnavailableError(
            f"the database driver for {safe_url(parsed)} is not installed ({exc}); for "
            "PostgreSQL run: pip install 'glocal[postgres]'."
        ) from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(parsed, exc) from None
    return engine


_MIGRATIONS = {1}
"""Schema versions this glocal upgrades in place (1 -> 2 only adds the demotions table)."""


def _migrate(engine: Engine, version: int) -> None:
    """Upgrade a registry of an older schema version in one transaction."""
    with engine.connect() as connection:
        connection.execution_options(**WRITE)
        with connection.begin():
            metadata.create_all(connection)  # creates only the tables that are missing
            connection.execute(
                schema_info.update()
                .where(schema_info.c.version == version)
                .values(
                    version=SCHEMA_VERSION,
                    glocal_version=glocal.__version__,
                    updated_at=dt.datetime.now(dt.UTC),
                )
            )


def ensure_schema(engine: Engine) -> int:
    """Create missing tables, or refuse a registry whose schema this glocal cannot read.

    Returns:
        The schema version of the registry.

    Raises:
        SchemaVersionError: The registry's schema version differs from
            :data:`SCHEMA_VERSION` (newer: upgrade glocal; older and not migratable in
            place: migrate it). Version 1 is upgraded in place.

    """
    where = safe_url(engine.url)
    with engine.connect() as probe:
        found = inspect(probe).has_table(schema_info.name)
        version = probe.execute(select(schema_info.c.version)).scalar() if found else None
    if version is not None and version < SCHEMA_VERSION and version in _MIGRATIONS:
        _migrate(engine, version)
        version = SCHEMA_VERSION
    if version is not None and version != SCHEMA_VERSION:
        relation = "newer" if version > SCHEMA_VERSION else "older"
        advice = "upgrade glocal" if version > SCHEMA_VERSION else "migrate the registry"
        raise SchemaVersionError(
            f"the registry at {where} has schema version {version}, {relation} than schema "
            f"version {SCHEMA_VERSION} of glocal {glocal.__version__}; {advice} before "
            "using it. Nothing was changed."
        )
    if version is None:
        with engine.connect() as connection:
            connection.execution_options(**WRITE)
            with connection.begin():
                metadata.create_all(connection)  # checkfirst: another process may have won
                if connection.execute(select(schema_info.c.version)).scalar() is None:
                    connection.execute(
                        schema_info.insert(),
                        {
                            "id": 1,
                            "version": SCHEMA_VERSION,
                            "glocal_version": glocal.__version__,
                            "updated_at": dt.datetime.now(dt.UTC),
                        },
                    )
    return SCHEMA_VERSION
