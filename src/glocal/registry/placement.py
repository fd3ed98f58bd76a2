"""Where a bundle lives: the workspace, or the object store of ``storage.url``.

A bundle is always written and verified on the local disk first
(:func:`glocal.registry.write_bundle`). With an object store, :func:`publish_bundle` then
uploads it under a staging key, re-reads every object against the manifest's SHA-256 and
copies it into ``models/bundles/<run_id>/``, ``manifest.json`` last. The registry records
the bundle's URL only after that, in the transaction that registers the run, so a reader
never reaches a half-uploaded bundle: a run killed mid-upload leaves staging keys and no
record. :func:`locate_bundle` brings a recorded bundle back to the local disk to load it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glocal.config import Workspace
from glocal.core.errors import BundleError
from glocal.core.storage import is_url
from glocal.registry.bundles import bundle_dir, discard_bundle
from glocal.registry.manifest import MANIFEST_FILE

__all__ = ["discard_bundle_at", "locate_bundle", "publish_bundle"]


def _key(run_id: str) -> str:
    return f"models/bundles/{run_id}"


def publish_bundle(workspace: Workspace, bundle: Path, manifest: Mapping[str, Any]) -> str:
    """Publish a verified local bundle to the workspace's store; return where it now lives.

    Without a store the bundle stays where it is and its path is returned.

    Raises:
        StorageError: An upload fails or an uploaded object does not match the manifest;
            nothing is copied into ``models/bundles/<run_id>/`` then.

    """
    store = workspace.store
    if store is None:
        return str(bundle)
    files: Mapping[str, str] = manifest["files"]
    return store.publish_tree(
        bundle,
        _key(str(manifest["run_id"])),
        files=[*files, MANIFEST_FILE],
        expected=files,
        last=MANIFEST_FILE,
    )


def locate_bundle(workspace: Workspace, run_id: str, recorded: str) -> Path:
    """Return the local directory of the bundle the registry recorded at ``recorded``.

    A relative path is taken inside the workspace. A URL is downloaded from the
    workspace's store into ``models/bundles/<run_id>`` unless a copy is there already.

    Raises:
        BundleError: The bundle is in a store but no ``storage.url`` is set, or the store
            holds no finished bundle (no ``manifest.json``) at that URL.

    """
    if not is_url(recorded):
        path = Path(recorded)
        return path if path.is_absolute() else workspace.root / path
    store = workspace.store
    if store is None:
        raise BundleError(
            f"the bundle of run {run_id} is kept at {recorded}, but storage.url is not set. "
            "Set storage.url (and storage.endpoint_url) to the store that holds it."
        )
    key = store.key_of(recorded)
    local = bundle_dir(workspace, run_id)
    if not (local / MANIFEST_FILE).is_file():
        if not store.exists(f"{key}/{MANIFEST_FILE}"):
            raise BundleError(
                f"there is no finished bundle at {recorded} ({MANIFEST_FILE} is missing). "
                "Restore it from a backup, or promote another run."
            )
        store.download_tree(key, local)
    return local


def discard_bundle_at(workspace: Workspace, recorded: str) -> bool:
    """Delete the bundle recorded at ``recorded`` (a path or a store URL)."""
    if not is_url(recorded):
        path = Path(recorded)
        return discard_bundle(path if path.is_absolute() else workspace.root / path)
    if workspace.store is None:
        return False  # kept in a store these settings do not name: leave it alone
    return workspace.store.delete_tree(workspace.store.key_of(recorded))
