"""Content hashes used for data versions, bundle checksums and config fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["hash_file", "hash_json"]

_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_json(payload: Any) -> str:
    """Return the SHA-256 hex digest of a JSON-serialisable value in canonical form."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
