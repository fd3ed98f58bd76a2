"""Atomic file output: a step either leaves its complete output or nothing at all.

Writers write into a temporary sibling and rename it into place only when they finish,
so a crash or ``kill -9`` mid-write never leaves a partial file where a later step reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_directory",
    "atomic_path",
    "replace_directory",
    "write_json_atomic",
    "write_text_atomic",
]


FILE_MODE = 0o644
"""Mode of a published file: owner read-write, everyone else read."""
DIRECTORY_MODE = 0o755
"""Mode of a published directory."""


def _publish(tmp: Path, target: Path, mode: int) -> None:
    # mkstemp/mkdtemp create owner-only entries; give the result the usual permissions,
    # set explicitly: reading the umask means setting it, which is not thread-safe
    os.chmod(tmp, mode)
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _publish(tmp, target, FILE_MODE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; rename it onto ``target`` on success.

    Without ``replace``, ``target`` must not exist yet: finished directories are immutable.
    With it, an existing ``target`` is swapped out only once the new one is complete
    (:func:`replace_directory`). On any exception the temporary directory is removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if replace:
            replace_directory(tmp, target)
        else:
            _publish(tmp, target, DIRECTORY_MODE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_directory(finished: Path, target: Path) -> None:
    """Move the complete directory ``finished`` onto ``target``, replacing an earlier one.

    The earlier ``target`` is first renamed aside (one rename), then ``finished`` takes
    its name and the old copy is deleted: a reader sees the old directory or the new
    one, never a mix. ``finished`` must be on the same file system, e.g. a sibling.
    """
    os.chmod(finished, DIRECTORY_MODE)
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rename(target, old / target.name)
    os.rename(finished, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: Path, payload: Any) -> None:
    """Write ``payload`` as indented, key-sorted JSON to ``target`` atomically."""
    write_text_atomic(target, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
