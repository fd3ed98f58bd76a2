"""A workspace whose files live in an object store (``storage.url``).

Every command works on a *scratch* workspace: a temporary directory that is a partial copy
of the store. :func:`open_remote_workspace` pulls what commands read (the data version
records, the current panel and the latest cleaned data, the prediction files and the
evaluation summary); entity states and bundles are fetched when needed. What a command
writes is published back by :func:`sync_workspace`, each file staged, verified and copied
into place (:meth:`glocal.core.storage.ObjectStore.publish_file`), and the records that
point at other files (``data/versions/*.json``, ``current.json``) last. Bundles are
published by :func:`glocal.registry.publish_bundle` before the registry records them.

The scratch directory is deleted when the command ends; nothing but the settings file is
kept on the machine.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glocal.config import Settings, Workspace
from glocal.core.errors import StorageError, WorkspaceError
from glocal.core.logging import get_logger, release_log_directory
from glocal.core.storage import ObjectStore

__all__ = [
    "RemoteSession",
    "close_remote_workspace",
    "location_of",
    "open_remote_workspace",
    "pull_workspace",
    "remove_unregistered",
    "sync_workspace",
]

_log = get_logger(__name__)

_NEVER_SYNCED = ("config/", "logs/", "models/bundles/", "models/registry.db", "data/raw/")
"""Keys kept out of the store's mirror: local settings, logs, bundles (published on their
own), the SQLite registry (not allowed with a store) and generated raw files."""
_FETCHED_LATER = ("models/pipeline/", "evaluation/monitor/", "evaluation/backtest/")
"""Keys not pulled up front: entity states are fetched by run id, histories are outputs."""
_POINTERS = ("data/versions/", "data/processed/current.json")
"""Records that name other files: published after them."""


@dataclass
class RemoteSession:
    """What :func:`sync_workspace` knows of a scratch workspace: the copy in the store."""

    published: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Local (size, mtime) of every file known to equal its object in the store."""
    pulled: dict[str, str] = field(default_factory=dict)
    """The store's version tag of every object last downloaded."""


_SESSIONS: dict[Path, RemoteSession] = {}


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def _store_of(settings: Settings) -> ObjectStore:
    url = settings.storage.url
    if url is None:
        raise StorageError("storage.url is not set; there is no object store to open.")
    return ObjectStore(
        url, endpoint_url=settings.storage.endpoint_url, options=settings.storage.options
    )


def open_remote_workspace(
    settings_file: Path, settings: Settings, *, pull: bool = True
) -> Workspace:
    """Return a scratch workspace backed by the store of ``settings`` and pull it.

    Args:
        settings_file: The ``settings.yaml`` to copy into the scratch workspace (``None``
            keeps the template; the ``GLOCAL_...`` variables apply either way).
        settings: The loaded settings; ``storage.url`` must be set.
        pull: Whether to pull the files commands read (:func:`pull_workspace`).

    Raises:
        StorageError: The store cannot be reached, or the bucket does not exist.

    """
    store = _store_of(settings)
    store.check()
    scratch = Path(tempfile.mkdtemp(prefix="glocal-scratch-"))
    workspace = Workspace(scratch, store=store)
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # a worker's backstop
    workspace.init()
    if settings_file.is_file():
        shutil.copyfile(settings_file, workspace.settings_path)
    _SESSIONS[scratch] = RemoteSession()
    try:
        if pull:
            pull_workspace(workspace)
    except BaseException:
        close_remote_workspace(workspace, publish=False)
        raise
    return workspace


def _wanted_versions(workspace: Workspace) -> set[str]:
    """Return the processed data versions a command may read: the current panel's and the latest."""
    wanted: set[str] = set()
    current = workspace.root / "data" / "processed" / "current.json"
    if current.is_file():
        wanted.add(str(_record(workspace, current).get("data_version", "")))
    records = []
    for path in workspace.versions_dir.glob("*.json"):
        records.append((str(_record(workspace, path).get("ingested_at", "")), path.stem))
    if records:
        wanted.add(max(records)[1])
    return wanted


def _record(workspace: Workspace, path: Path) -> dict[str, Any]:
    """Read a pulled JSON record, or name the object in the store that is damaged."""
    try:
        record = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        record = None
        reason = str(exc)
    else:
        reason = "not a JSON object"
    if not isinstance(record, dict):
        assert workspace.store is not None
        key = path.relative_to(workspace.root).as_posix()
        raise WorkspaceError(
            f"{workspace.store.url_of(key)} is damaged ({reason}). Restore it, or delete it "
            "and ingest the data again."
        )
    return record


def _skipped(key: str) -> bool:
    return key.startswith(_NEVER_SYNCED + _FETCHED_LATER)


def pull_workspace(workspace: Workspace) -> list[str]:
    """Download the files commands read from the store into the scratch workspace.

    Files already present locally are replaced, so a long-lived process (``glocal serve``)
    sees what another process published since. Returns the keys downloaded.
    """
    store = workspace.store
    if store is None:
        return []
    session = _SESSIONS.setdefault(workspace.root, RemoteSession())
    tags = {key: tag for key, tag in store.list_versions().items() if not _skipped(key)}
    changed = [key for key, tag in tags.items() if session.pulled.get(key) != tag]
    pointers = sorted(key for key in changed if key.startswith(_POINTERS))
    for key in pointers:
        _download(workspace, session, key, tags[key])
    versions = _wanted_versions(workspace)
    pulled = list(pointers)
    for key in sorted(set(changed) - set(pointers)):
        parts = key.split("/")
        if key.startswith("data/processed/") and len(parts) > 3 and parts[2] not in versions:
            continue
        _download(workspace, session, key, tags[key])
        pulled.append(key)
    return pulled


def _download(workspace: Workspace, session: RemoteSession, key: str, tag: str = "") -> None:
    assert workspace.store is not None
    target = workspace.root / key
    workspace.store.download(key, target)
    session.published[key] = _stat(target)
    session.pulled[key] = tag


def fetch_file(workspace: Workspace, path: Path) -> bool:
    """Download ``path`` (inside the scratch workspace) from the store if it is missing.

    Returns whether the file exists locally afterwards. Without a store, only checks.
    """
    if path.is_file() or workspace.store is None:
        return path.is_file()
    key = path.relative_to(workspace.root).as_posix()
    if not workspace.store.exists(key):
        return False
    _download(workspace, _SESSIONS.setdefault(workspace.root, RemoteSession()), key)
    return True


def remove_unregistered(workspace: Workspace, registered: set[str]) -> list[str]:
    """Delete the store's bundles and entity states of runs the registry does not know.

    A run killed after publishing its bundle but before the registry recorded it leaves
    them behind; nothing can reach them. Call it only while holding the run lock (only a
    run writes bundles and states). Returns the keys deleted.
    """
    store = workspace.store
    if store is None:
        return []
    keys = store.list_files("models/bundles") + store.list_files("models/pipeline")
    finished = {k.split("/")[2] for k in keys if k.startswith("models/bundles/")}
    finished = {run for run in finished if f"models/bundles/{run}/manifest.json" in keys}
    doomed = sorted(
        {
            "/".join(key.split("/")[:3])
            for key in keys
            if key.split("/")[2] not in (registered & finished)
        }
    )
    for key in doomed:
        store.delete_tree(key)
    return doomed


def location_of(workspace: Workspace, path: Path) -> Path | str:
    """Return where a file of the workspace is kept: its store URL, or its local path."""
    if workspace.store is None:
        return path
    return workspace.store.url_of(path.relative_to(workspace.root).as_posix())


def sync_workspace(workspace: Workspace) -> list[str]:
    """Publish every file the command wrote or changed; return the keys published.

    Each file is staged, verified and copied into place; records that point at other
    files go last, so a reader never finds a record whose files are not there yet.
    """
    store = workspace.store
    if store is None:
        return []
    session = _SESSIONS.setdefault(workspace.root, RemoteSession())
    changed: list[tuple[bool, str, Path]] = []
    for path in workspace.root.rglob("*"):
        key = path.relative_to(workspace.root).as_posix()
        if not path.is_file() or key.startswith(_NEVER_SYNCED) or _hidden(key):
            continue
        if key.startswith("evaluation/backtest/") and "/workspace/" in key:
            continue  # a backtest's replay workspace: its periods and report are the output
        if session.published.get(key) != _stat(path):
            changed.append((key.startswith(_POINTERS), key, path))
    published = []
    for _, key, path in sorted(changed):
        stat = _stat(path)
        store.publish_file(path, key)
        session.published[key] = stat
        published.append(key)
    if published:
        _log.info("published %d file(s) to %s", len(published), store.url)
    return published


def _hidden(key: str) -> bool:
    """Temporary files of atomic writes (``.name.tmp``) and lock files are never published."""
    return any(part.startswith(".") for part in key.split("/"))


def close_remote_workspace(workspace: Workspace, *, publish: bool) -> None:
    """End a command on a scratch workspace: publish its output, its log, then delete it.

    Args:
        workspace: A workspace from :func:`open_remote_workspace`.
        publish: Whether the command succeeded and its output should be published; the
            log is uploaded either way, as ``logs/<UTC time>-<pid>-<random>.log``.

    """
    store = workspace.store
    try:
        if store is not None and publish:
            sync_workspace(workspace)
    finally:
        try:
            log = workspace.logs_dir / "glocal.log"
            if store is not None and log.is_file() and log.stat().st_size:
                moment = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
                key = f"logs/{moment}-{os.getpid()}-{secrets.token_hex(3)}.log"
                store.publish_file(log, key)
        except StorageError as exc:
            _log.warning("could not upload the log: %s", exc)
        finally:
            release_log_directory(workspace.root)
            _SESSIONS.pop(workspace.root, None)
            shutil.rmtree(workspace.root, ignore_errors=True)
