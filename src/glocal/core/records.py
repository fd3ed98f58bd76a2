"""Reading the versioned JSON records that describe saved artifacts (models, bundles).

Each record carries ``format`` (what it describes) and ``format_version``; a reader refuses
a record of another format, or of a newer version than it understands, with a clear error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glocal import __version__
from glocal.core.errors import GlocalError

__all__ = ["read_versioned_json"]


def read_versioned_json(
    path: Path,
    *,
    format_name: str,
    max_version: int,
    error: type[GlocalError],
    missing: str,
    what: str,
) -> dict[str, Any]:
    """Return the JSON object at ``path`` after checking its format and version.

    Args:
        path: The record's file.
        format_name: The expected value of its ``format`` key.
        max_version: The newest ``format_version`` this glocal reads.
        error: The exception class to raise.
        missing: The message when ``path`` does not exist (it says what to do).
        what: What the record is, for messages ("bundle manifest", ...).

    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(missing) from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {path}: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != format_name:
        raise error(f"{path} is not a glocal {what}.")
    version = record.get("format_version")
    if not isinstance(version, int) or version > max_version:
        raise error(
            f"{path} has format version {version}, but glocal {__version__} reads versions "
            f"up to {max_version}. Upgrade glocal to load it."
        )
    return record
