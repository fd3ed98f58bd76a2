"""An exclusive, crash-safe lock on a workspace, so two ``glocal run`` never overlap.

The lock is an OS file lock (``fcntl.flock``) on ``<workspace>/.glocal.lock``. The kernel
releases it when the holding process exits for any reason, ``kill -9`` included, so a
crashed run never leaves a stale lock behind. The file also records who holds it (pid,
start time, command), so the refused run can say whom it waited for. The file itself is
never deleted: deleting a lock file while another process opens it would let two holders
lock two different files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from glocal.core.errors import WorkspaceError

__all__ = ["LOCK_FILE", "HeldLock", "WorkspaceLock"]

LOCK_FILE = ".glocal.lock"
"""Name of the lock file in the workspace root."""


def _describe_holder(raw: str) -> str:
    try:
        holder = json.loads(raw)
        return (
            f"pid {holder['pid']} on {holder['host']}, started {holder['started_at']} "
            f"({holder['command']})"
        )
    except (ValueError, KeyError, TypeError):
        return "a process that has not written its details yet"


class HeldLock:
    """A lock held for a ``with`` block: ``acquire`` on entry, ``release`` on exit."""

    def acquire(self) -> None:
        """Take the lock without waiting, or raise :class:`WorkspaceError`."""
        raise NotImplementedError

    def release(self) -> None:
        """Release the lock."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


class WorkspaceLock(HeldLock):
    """Hold ``<root>/.glocal.lock`` exclusively while the ``with`` block runs.

    Args:
        root: The workspace directory (created if missing).
        command: What the holder is doing, shown to a refused second process.

    Raises:
        WorkspaceError: On entering, when another live process holds the lock; the
            message names its pid and start time.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     with WorkspaceLock(Path(tmp)) as lock:
        ...         lock.path.name
        '.glocal.lock'

    """

    def __init__(self, root: Path, command: str = "glocal run") -> None:
        self.root = root
        self.command = command
        self.path = root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting, or raise :class:`WorkspaceError`."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = ""
            with contextlib.suppress(OSError):
                raw = os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
            os.close(fd)
            raise WorkspaceError(
                f"another glocal run is using the workspace {self.root}: the lock "
                f"{self.path} is held by {_describe_holder(raw)}. Wait "
                "for it to finish and run again; the lock is released automatically when "
                "that process ends, even if it crashes."
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": self.command or " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (closing the file releases it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
