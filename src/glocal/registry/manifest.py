"""The manifest of a run bundle: checksums, versions and lineage, as JSON.

``manifest.json`` lists the SHA-256 of every other file of the bundle, so a reader can
tell a complete, untouched bundle from a partial or modified one, and records what made
the run: data version, config hash, code version, metrics and lineage.
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

import glocal
from glocal.core.errors import BundleError
from glocal.core.hashing import hash_file
from glocal.core.records import read_versioned_json

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "MANIFEST_FILE",
    "code_version",
    "code_version_string",
    "hash_tree",
    "jsonable",
    "read_manifest",
]

BUNDLE_FORMAT_VERSION = 1
"""Version of the bundle layout; readers refuse newer ones."""

BUNDLE_FORMAT = "glocal-bundle"
MANIFEST_FILE = "manifest.json"

_GIT_TIMEOUT_SECONDS = 2.0


def _git_commit() -> str | None:
    """Return the commit of the checkout glocal runs from, or None (no git, no repo)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(glocal.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) == 40 else None


def code_version() -> dict[str, str | None]:
    """Return ``{"glocal": __version__, "git_commit": <sha or None>}``."""
    return {"glocal": glocal.__version__, "git_commit": _git_commit()}


def code_version_string(version: Mapping[str, Any]) -> str:
    """Render a code version as ``0.1.0+g<12 hex>`` (or ``0.1.0`` without git)."""
    commit = version.get("git_commit")
    return f"{version['glocal']}+g{commit[:12]}" if commit else str(version["glocal"])


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types: numpy scalars unboxed, NaN/inf as None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    return value


def hash_tree(root: Path) -> dict[str, str]:
    """Return the SHA-256 of every file below ``root`` but the manifest, by posix path."""
    digests = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative != MANIFEST_FILE:
            digests[relative] = hash_file(path)
    return digests


def _check_entry(bundle: Path, relative: str) -> Path:
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise BundleError(
            f"manifest of bundle {bundle} lists {relative!r}, which points outside the "
            "bundle; the manifest was tampered with. Restore the bundle or re-run."
        )
    return bundle / pure


def read_manifest(bundle: Path) -> dict[str, Any]:
    """Read and sanity-check ``manifest.json`` of ``bundle`` (no checksums yet).

    Raises:
        BundleError: The manifest is missing (an unfinished or foreign directory),
            unreadable, or of a newer format than this glocal reads.

    """
    path = bundle / MANIFEST_FILE
    manifest = read_versioned_json(
        path,
        format_name=BUNDLE_FORMAT,
        max_version=BUNDLE_FORMAT_VERSION,
        error=BundleError,
        missing=(
            f"{bundle} is not a complete bundle: {MANIFEST_FILE} is missing (a killed run "
            "leaves such directories; `cleanup_partial_bundles` removes them)."
        ),
        what="bundle manifest",
    )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path} lists no files; the manifest is damaged.")
    for relative in files:
        _check_entry(bundle, relative)
    return manifest
