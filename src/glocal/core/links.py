"""Sharing identical files between immutable directories with hard links.

Run bundles never change once written, so a file a new bundle would write byte for byte
as its parent did can instead be a hard link to the parent's: it costs no disk, and
deleting either bundle leaves the other whole. Where links are impossible (another file
system, a store without links) the file is copied instead, so the result is the same.

Examples:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     old, new = Path(tmp) / "old", Path(tmp) / "new"
    ...     for folder in (old, new):
    ...         folder.mkdir()
    ...         _ = (folder / "model.txt").write_text("same")
    ...     share_identical_files(new, old)
    ...     (old / "model.txt").stat().st_ino == (new / "model.txt").stat().st_ino
    1
    True

"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from glocal.core.hashing import hash_file

__all__ = ["link_or_copy", "share_identical_files"]


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source``, or a copy where links are impossible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def share_identical_files(directory: Path, base: Path) -> int:
    """Replace each file of ``directory`` identical to ``base``'s at the same path by a link.

    Files are compared by size, then SHA-256. Returns how many files are now shared.
    A file that cannot be linked is left as it is.
    """
    shared = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        twin = base / path.relative_to(directory)
        if not twin.is_file() or twin.stat().st_size != path.stat().st_size:
            continue
        if os.path.samefile(twin, path) or hash_file(twin) != hash_file(path):
            continue
        staged = path.with_name(f".{path.name}.link")
        try:
            os.link(twin, staged)
        except OSError:
            continue
        try:
            os.replace(staged, path)
        except OSError:
            with contextlib.suppress(OSError):
                staged.unlink()
            continue
        shared += 1
    return shared
