"""The run lock in the registry database, for workspaces kept in an object store.

An object store has no file lock, so when ``storage.url`` is set two ``glocal run`` on
the same store are kept apart by the registry database instead:

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a
  dedicated connection for the whole run. The server releases it when that connection
  ends for any reason, so a ``kill -9`` of the holder frees it at once.
* SQLite: the OS file lock of :class:`glocal.pipeline.lock.WorkspaceLock`, beside the
  database file (which is local by definition).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from glocal.config import Settings, Workspace
from glocal.core.errors import RegistryError, WorkspaceError
from glocal.pipeline.lock import HeldLock, WorkspaceLock
from glocal.registry.engine import create_registry_engine, safe_url

__all__ = ["RegistryRunLock"]

_NAMESPACE = 0x676C6F63  # "gloc": the first key of glocal's advisory locks
_HOLDER = text(
    "SELECT a.pid, a.backend_start, a.client_addr FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
    "AND l.granted AND l.classid = :namespace AND l.objid = :scope AND l.objsubid = 2"
)


def _scope_key(scope: str) -> int:
    """Return a stable 31-bit key of ``scope`` (the store's URL)."""
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:4], "big") & 0x7FFFFFFF


class RegistryRunLock(HeldLock):
    """Hold the run lock of one object store in the registry database.

    Args:
        settings: Settings with ``storage.url`` and ``registry.url`` set.
        workspace: The (scratch) workspace; used only to open the registry.
        command: What the holder is doing, for the refused run's message.

    Raises:
        WorkspaceError: On entering, when another live run holds the lock; the message
            names the holder's database session.

    """

    def __init__(self, settings: Settings, workspace: Workspace, command: str = "glocal run"):
        self.scope = settings.storage.url or str(workspace.root)
        self.url = settings.registry.url
        self.workspace = workspace
        self.command = command
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self._file_lock: WorkspaceLock | None = None
        self._key: dict[str, int] = {}

    def acquire(self) -> None:
        """Take the lock without waiting, or raise :class:`WorkspaceError`."""
        try:
            parsed = make_url(self.url) if self.url else None
        except ArgumentError:
            raise RegistryError(
                f"registry.url {self.url!r} is not a SQLAlchemy URL; use e.g. "
                "postgresql+psycopg://user:password@host:5432/db."
            ) from None
        if parsed is None or parsed.get_backend_name() != "postgresql":
            database = Path(parsed.database) if parsed and parsed.database else None
            root = database.parent if database else self.workspace.models_dir
            self._file_lock = WorkspaceLock(root, command=self.command)
            self._file_lock.acquire()
            return
        engine = create_registry_engine(self.url, self.workspace)
        connection = engine.connect()
        key = {"namespace": _NAMESPACE, "scope": _scope_key(self.scope)}
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:namespace, :scope)"), key
        ).scalar()
        connection.commit()
        if not taken:
            holder = connection.execute(_HOLDER, key).first()
            connection.close()
            engine.dispose()
            who = (
                f"database session {holder.pid} (from {holder.client_addr or 'a local socket'}, "
                f"connected {holder.backend_start:%Y-%m-%d %H:%M:%S %Z})"
                if holder is not None
                else "a session that has just ended"
            )
            raise WorkspaceError(
                f"another glocal run is using the store {self.scope}: its run lock in the "
                f"registry {safe_url(engine.url)} is held by {who}. Wait for it to finish "
                "and run again; the lock is released when that run ends, even if it crashes."
            )
        self._engine, self._connection = engine, connection
        self._key = key

    def release(self) -> None:
        """Release the lock: closing its connection ends the database session."""
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None
        if self._connection is not None:
            with contextlib.suppress(Exception):  # the session's end releases it anyway
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:namespace, :scope)"), self._key
                )
                self._connection.commit()
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
