"""Immutable run bundles under ``models/bundles/<run_id>/``.

A bundle is written into a temporary sibling (``.<run_id>.<random>.tmp``), checked, and
renamed into place only when complete (:func:`glocal.core.atomic.atomic_directory`); a
killed run leaves at most a temporary directory, which readers ignore and
:func:`cleanup_partial_bundles` removes. Layout::

    models/bundles/<run_id>/
        manifest.json       SHA-256 of every other file, versions, metrics, lineage
        drift_baseline.json the training distribution of every feature and the target
        hybrid.json, global/, banks/, corrections/, decisions/   the saved HybridModel

A run with a parent run shares the parent bundle's unchanged files as hard links: its
per-entity tables add only the rows that changed (:mod:`glocal.models.table_layers`), and
an unchanged global model costs no disk. Bundles are immutable, so the link is safe;
editing a file in place would damage both bundles, and verification names it in both.

Examples:
    >>> from pathlib import Path
    >>> from glocal.config import Workspace
    >>> bundle_dir(Workspace(Path("/tmp/shop")), "r1").as_posix()
    '/tmp/shop/models/bundles/r1'

"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glocal.config import Settings, Workspace
from glocal.core import clock
from glocal.core.atomic import atomic_directory
from glocal.core.errors import BundleError
from glocal.core.hashing import hash_file, hash_json
from glocal.registry.manifest import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    MANIFEST_FILE,
    code_version,
    hash_tree,
    jsonable,
    read_manifest,
)

if TYPE_CHECKING:
    from glocal.models import HybridModel

__all__ = [
    "DRIFT_BASELINE_FILE",
    "BundleMetadata",
    "bundle_dir",
    "cleanup_partial_bundles",
    "discard_bundle",
    "list_bundles",
    "load_bundle",
    "new_run_id",
    "read_drift_baseline",
    "verify_bundle",
    "write_bundle",
]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_GLOBAL_MODEL_FILE = "global/stage.json"
DRIFT_BASELINE_FILE = "drift_baseline.json"
"""The training distribution sketch of a bundle (see :mod:`glocal.features.drift`)."""


@dataclass(frozen=True)
class BundleMetadata:
    """What a run records about itself in its bundle's manifest.

    Attributes:
        data_version: The data version the run was trained on.
        settings: The effective settings; their hash becomes ``config_hash``.
        metrics: Any JSON-serialisable metrics (NaN is written as null).
        parent_run_id: The run this one retrained from, if any.
        global_version_id: Id of the global model; ``None`` derives a content id
            (``gm-`` + 16 hex of the global model file's SHA-256), so a global model
            carried forward unchanged keeps its id.
        created_at: Creation time; ``None`` means now (:func:`glocal.core.clock.now`).
        drift_baseline: The training distribution sketch of every feature and the target
            (:func:`glocal.features.feature_baseline`), written to ``drift_baseline.json``.

    """

    data_version: str
    settings: Settings
    metrics: Mapping[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None
    global_version_id: str | None = None
    created_at: dt.datetime | None = None
    drift_baseline: Mapping[str, Any] | None = None


def new_run_id(now: dt.datetime | None = None) -> str:
    """Return a fresh, sortable run id such as ``20240105T101500Z-3f9a1c``."""
    moment = (now or clock.now()).astimezone(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _check_run_id(run_id: str) -> None:
    if not _RUN_ID.fullmatch(run_id):
        raise BundleError(
            f"run id {run_id!r} cannot name a bundle directory: use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit (new_run_id() makes one)."
        )


def bundle_dir(workspace: Workspace, run_id: str) -> Path:
    """Return ``models/bundles/<run_id>`` of ``workspace``."""
    _check_run_id(run_id)
    return workspace.models_dir / "bundles" / run_id


def _utc(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return clock.now()
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _manifest(
    root: Path, run_id: str, model: HybridModel, metadata: BundleMetadata
) -> dict[str, Any]:
    from glocal.models.persistence import HYBRID_FORMAT_VERSION

    files = hash_tree(root)
    global_version_id = metadata.global_version_id or f"gm-{files[_GLOBAL_MODEL_FILE][:16]}"
    decisions = model.decisions_["decision"].value_counts()
    created_at = _utc(metadata.created_at)
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "run_id": run_id,
        "created_at": created_at.isoformat(),
        "data_version": metadata.data_version,
        "config_hash": hash_json(metadata.settings.model_dump(mode="json")),
        "code_version": code_version(),
        "metrics": jsonable(metadata.metrics),
        "lineage": {
            "global_version_id": global_version_id,
            "parent_run_id": metadata.parent_run_id,
        },
        "global_model": {
            "version_id": global_version_id,
            "trained_at": created_at.isoformat(),
            "best_iteration": _largest_member_size(model),
            "members": list(model.global_stage_.members_),
            "learner_iterations": model.global_stage_.report_.get("learner_iterations", {}),
            "uses_entity_feature": bool(model.global_uses_entity_),
            "population_guard": _guard_outcome(model),
        },
        "model": {
            "format_version": HYBRID_FORMAT_VERSION,
            "entities": len(model.decisions_),
            "decisions": {str(k): int(v) for k, v in decisions.items()},
        },
        "files": files,
    }


def _guard_outcome(model: HybridModel) -> str | None:
    """Return what the population guard decided at the model's last full fit."""
    guard = model.report_.get("population_guard")
    return str(guard.get("outcome")) if isinstance(guard, dict) else None


def _largest_member_size(model: HybridModel) -> int | None:
    """Return the largest early-stopped size among the global stage's member learners."""
    sizes = [m.best_iteration_ for m in model.global_stage_.models_.values() if m.best_iteration_]
    return max(sizes) if sizes else None


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory of ``root`` to disk before it is published."""
    for path in [*sorted(root.rglob("*")), root]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_files(bundle: Path, manifest: Mapping[str, Any]) -> None:
    expected: Mapping[str, str] = manifest["files"]
    for relative, digest in sorted(expected.items()):
        path = bundle / relative
        if not path.is_file():
            raise BundleError(
                f"bundle {bundle} is incomplete: file {relative} listed in its manifest is "
                "missing. Restore the bundle from a backup or re-run."
            )
        actual = hash_file(path)
        if actual != digest:
            raise BundleError(
                f"checksum mismatch in bundle {bundle}: file {relative} has SHA-256 "
                f"{actual}, the manifest says {digest}. The file was modified after the "
                "run wrote it; restore the bundle from a backup or re-run."
            )
    present = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {
        MANIFEST_FILE
    }
    extra = sorted(present - set(expected))
    if extra:
        raise BundleError(
            f"bundle {bundle} holds file(s) its manifest does not list: {', '.join(extra)}. "
            "Something wrote into the immutable bundle; remove them or restore it."
        )


def verify_bundle(path: str | Path) -> dict[str, Any]:
    """Re-hash every file of a bundle against its manifest and return the manifest.

    Raises:
        BundleError: The bundle is missing or unfinished, or a file is missing, extra, or
            does not match its checksum (the message names the file).

    """
    bundle = Path(path)
    if not bundle.is_dir():
        raise BundleError(f"there is no bundle at {bundle}.")
    if bundle.name.startswith("."):
        raise BundleError(
            f"{bundle} is the temporary directory of an unfinished bundle, not a bundle."
        )
    manifest = read_manifest(bundle)
    _check_files(bundle, manifest)
    return manifest


def _lock(directory: Path) -> int:
    """Hold an exclusive lock on ``directory`` so cleanup leaves it alone while writing."""
    fd = os.open(directory, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _write_error(target: Path, exc: OSError) -> BundleError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        advice = "free disk space on that file system and run again"
    elif isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        advice = f"make {target.parent} writable for this user and run again"
    else:
        advice = "fix the cause above and run again"
    where = f" ({exc.filename})" if exc.filename else ""
    return BundleError(
        f"cannot write bundle {target}: {reason}{where}. Nothing was published and no "
        f"alias changed; {advice}."
    )


def _parent_bundle(workspace: Workspace, parent_run_id: str | None) -> Path | None:
    """Return the parent run's bundle directory, whose unchanged files the bundle shares."""
    if parent_run_id is None or not _RUN_ID.fullmatch(parent_run_id):
        return None
    parent = bundle_dir(workspace, parent_run_id)
    return parent if (parent / MANIFEST_FILE).is_file() else None


def write_bundle(
    workspace: Workspace, run_id: str, model: HybridModel, metadata: BundleMetadata
) -> Path:
    """Write ``model`` as the immutable bundle of ``run_id`` and return its directory.

    The bundle appears at ``models/bundles/<run_id>`` only when every file is written,
    flushed and re-hashed; on any error nothing is left there.

    Raises:
        BundleError: The bundle exists already (bundles are immutable), the run id is not
            a valid directory name, or the disk is full / not writable.
        ModelError: The model is not fitted or cannot be saved safely.

    """
    target = bundle_dir(workspace, run_id)
    if target.exists():
        raise BundleError(
            f"bundle {target} exists already; bundles are immutable. Use a new run id."
        )
    lock_fd: int | None = None
    try:
        with atomic_directory(target) as tmp:
            lock_fd = _lock(tmp)
            from glocal.models.persistence import save_hybrid

            save_hybrid(model, tmp, base=_parent_bundle(workspace, metadata.parent_run_id))
            if metadata.drift_baseline is not None:
                (tmp / DRIFT_BASELINE_FILE).write_text(
                    json.dumps(jsonable(metadata.drift_baseline), allow_nan=False) + "\n",
                    encoding="utf-8",
                )
            manifest = _manifest(tmp, run_id, model, metadata)
            (tmp / MANIFEST_FILE).write_text(
                json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n",
                encoding="utf-8",
            )
            _fsync_tree(tmp)
            _check_files(tmp, manifest)
            if target.exists():  # another writer published the same run id meanwhile
                raise BundleError(f"bundle {target} appeared while writing; use a new run id.")
    except OSError as exc:
        raise _write_error(target, exc) from exc
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    verify_bundle(target)
    return target


def load_bundle(path: str | Path) -> tuple[HybridModel, dict[str, Any]]:
    """Verify a bundle, then load its model; return ``(model, manifest)``.

    Raises:
        BundleError: See :func:`verify_bundle`.

    """
    manifest = verify_bundle(path)
    from glocal.models.persistence import load_hybrid  # LightGBM: only when loading

    return load_hybrid(path), manifest


def read_drift_baseline(bundle: str | Path) -> dict[str, Any] | None:
    """Return a bundle's ``drift_baseline.json`` (``None`` for bundles written without one).

    Call it on a verified bundle (:func:`verify_bundle`): the file is covered by the manifest.

    Raises:
        BundleError: The file exists but is not valid JSON.

    """
    path = Path(bundle) / DRIFT_BASELINE_FILE
    if not path.is_file():
        return None
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); restore the bundle.") from None
    return loaded


def _bundles_root(workspace: Workspace) -> Path:
    return workspace.models_dir / "bundles"


def list_bundles(workspace: Workspace) -> list[Path]:
    """Return the finished bundle directories, by name; temporary ones are ignored."""
    root = _bundles_root(workspace)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def discard_bundle(path: Path) -> bool:
    """Delete a bundle directory; return whether there was one.

    The directory is first renamed to a temporary name (one rename, atomic), so a
    process killed while deleting leaves no half-deleted bundle under its run id, only a
    temporary directory that :func:`cleanup_partial_bundles` removes.
    """
    if not path.is_dir():
        return False
    doomed = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def cleanup_partial_bundles(workspace: Workspace) -> list[Path]:
    """Remove temporary directories left by killed bundle writes; return what was removed.

    A temporary directory a live writer still holds (it keeps a lock on it) is skipped.
    """
    root = _bundles_root(workspace)
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.glob(".*.tmp")):
        if not path.is_dir():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
    return removed
