"""Object storage through fsspec: a workspace's files kept under ``file://`` or ``s3://``.

Object stores have no rename, so a file or a directory is *published* in three steps:

1. upload it under a staging key, ``.staging/<UTC time>-<random>/<key>``;
2. read every staged object back and compare its SHA-256 with the local file's;
3. copy the objects onto their final keys on the server, a directory's completion marker
   (a bundle's ``manifest.json``) last, then delete the staging keys.

A reader that requires the marker therefore never sees a half-written directory, and a
writer killed at any point leaves only staging keys, which :meth:`ObjectStore.remove_staging`
deletes once they are older than any live upload. Bundles become visible to glocal only
through the registry transaction that records them, after all of this.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     store = ObjectStore(Path(tmp).as_uri() + "/store")
    ...     local = Path(tmp) / "hello.txt"
    ...     _ = local.write_text("hi")
    ...     store.publish_file(local, "greetings/hello.txt")
    ...     store.list_files("greetings")
    ['greetings/hello.txt']

"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from glocal.core.atomic import atomic_path
from glocal.core.errors import StorageError

__all__ = ["STAGING_PREFIX", "ObjectStore", "is_url"]

STAGING_PREFIX = ".staging"
"""Key prefix under which uploads wait until they are verified and copied into place."""

_STAGING_FORMAT = "%Y%m%dT%H%M%S"


def is_url(location: str | Path) -> bool:
    """Return whether ``location`` is a URL (``scheme://...``) rather than a local path.

    Examples:
        >>> is_url("s3://bucket/shop"), is_url("/srv/shop")
        (True, False)

    """
    return "://" in str(location)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ObjectStore:
    """The files of one workspace under ``url``, read and written through fsspec.

    Args:
        url: ``file:///abs/dir`` or ``s3://bucket/prefix`` (any protocol fsspec knows).
        endpoint_url: The S3-compatible endpoint (MinIO, moto, Ceph...); ``None`` is AWS.
        options: Further fsspec storage options (credentials are better left to the
            usual ``AWS_...`` variables).

    Raises:
        StorageError: The protocol is unknown or its fsspec implementation is missing.

    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        import fsspec

        self.url = url.rstrip("/")
        protocol, _, root = self.url.partition("://")
        if not root:
            raise StorageError(
                f"storage.url {url!r} is not a URL; give it as file:///abs/dir or "
                "s3://bucket/prefix."
            )
        storage_options: dict[str, Any] = dict(options or {})
        if endpoint_url:
            client = dict(storage_options.pop("client_kwargs", {}) or {})
            storage_options["client_kwargs"] = {**client, "endpoint_url": endpoint_url}
        if protocol == "file":
            storage_options.setdefault("auto_mkdir", True)  # as object stores behave
        try:
            self.fs = fsspec.filesystem(protocol, **storage_options)
        except (ImportError, ValueError) as exc:
            extra = " (pip install 'glocal[s3]')" if protocol in ("s3", "s3a") else ""
            raise StorageError(
                f"storage.url {url!r}: cannot open the {protocol!r} file system: {exc}. "
                f"Install its fsspec implementation{extra} or use file:// or s3://."
            ) from None
        self.protocol = protocol
        self.root = root.rstrip("/")
        self.endpoint_url = endpoint_url

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn any I/O failure of the store into a :class:`StorageError` that names it."""
        try:
            yield
        except StorageError:
            raise
        except FileNotFoundError as exc:
            raise StorageError(
                f"storage {self.url}: {doing} failed, an object is missing ({exc}). Check "
                "storage.url (does the bucket exist?) and that no one deleted it."
            ) from None
        except Exception as exc:  # network, credentials, throttling: all say the same
            endpoint = f" at {self.endpoint_url}" if self.endpoint_url else ""
            raise StorageError(
                f"storage {self.url}{endpoint}: {doing} failed: {type(exc).__name__}: "
                f"{exc}. Check storage.url, storage.endpoint_url and the credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), then run again."
            ) from None

    def path_of(self, key: str) -> str:
        """Return the fsspec path (no protocol) of ``key``."""
        return f"{self.root}/{key.strip('/')}" if key else self.root

    def url_of(self, key: str) -> str:
        """Return the full URL of ``key``, e.g. ``s3://bucket/shop/models/bundles/r1``."""
        return f"{self.url}/{key.strip('/')}"

    def key_of(self, url: str) -> str:
        """Return the key of a URL inside this store.

        Raises:
            StorageError: ``url`` lies outside ``storage.url``.

        """
        prefix = self.url + "/"
        if not url.startswith(prefix):
            raise StorageError(
                f"{url} is not inside storage.url {self.url}; it was written with other "
                "storage settings. Point storage.url at the store that holds it."
            )
        return url[len(prefix) :]

    def check(self) -> None:
        """Make sure the store can be listed, creating a missing local root.

        Raises:
            StorageError: The bucket is missing, or the endpoint or credentials are wrong.

        """
        with self._errors("opening the store"):
            if self.protocol == "file":
                self.fs.makedirs(self.root, exist_ok=True)
                return
            bucket = self.root.split("/", 1)[0]
            try:
                self.fs.ls(bucket, refresh=True)  # unlike exists(), raises what went wrong
            except FileNotFoundError:
                raise StorageError(
                    f"storage.url {self.url}: the bucket {bucket!r} does not exist"
                    f"{' at ' + self.endpoint_url if self.endpoint_url else ''}. Create it, "
                    "or fix storage.url / storage.endpoint_url."
                ) from None

    def exists(self, key: str) -> bool:
        """Return whether an object (or a directory of objects) exists at ``key``."""
        with self._errors(f"looking up {key}"):
            return bool(self.fs.exists(self.path_of(key)))

    def list_files(self, prefix: str = "") -> list[str]:
        """Return every object key under ``prefix``, sorted; staging keys are left out."""
        return sorted(self.list_versions(prefix))

    def list_versions(self, prefix: str = "") -> dict[str, str]:
        """Return ``{key: version tag}`` of every object under ``prefix`` (no staging keys).

        The tag (size plus ETag or modification time) changes whenever the object does,
        so a mirror downloads only what changed since it last looked.
        """
        base = self.path_of(prefix)
        with self._errors(f"listing {prefix or '/'}"):
            if not self.fs.exists(base):
                return {}
            found = self.fs.find(base, detail=True)
        versions = {}
        for path, info in found.items():
            key = str(path)[len(self.root) + 1 :]
            if key and not key.startswith(STAGING_PREFIX + "/"):
                stamp = info.get("ETag") or info.get("mtime") or info.get("LastModified")
                versions[key] = f"{info.get('size')}:{stamp}"
        return versions

    def read_bytes(self, key: str) -> bytes:
        """Return the bytes of the object at ``key``."""
        with self._errors(f"reading {key}"):
            data: bytes = self.fs.cat_file(self.path_of(key))
        return data

    def download(self, key: str, target: Path) -> None:
        """Download the object at ``key`` to the local file ``target``, atomically."""
        with self._errors(f"downloading {key}"), atomic_path(target) as tmp:
            self.fs.get_file(self.path_of(key), str(tmp))

    def _staging_key(self) -> str:
        moment = dt.datetime.now(dt.UTC).strftime(_STAGING_FORMAT)
        return f"{STAGING_PREFIX}/{moment}-{secrets.token_hex(4)}"

    def _upload_verified(self, local: Path, staged: str, expected: str) -> None:
        self.fs.put_file(str(local), self.path_of(staged))
        actual = _sha256(self.fs.cat_file(self.path_of(staged)))
        if actual != expected:
            raise StorageError(
                f"storage {self.url}: the uploaded copy of {local.name} has SHA-256 "
                f"{actual}, the file has {expected}; nothing was published. Check the "
                "endpoint (a proxy rewriting bodies?) and run again."
            )

    def publish_file(self, local: Path, key: str) -> None:
        """Upload ``local`` to ``key``: staged, verified, then copied into place."""
        staged = f"{self._staging_key()}/{key.rpartition('/')[2]}"
        with self._errors(f"publishing {key}"):
            try:
                self._upload_verified(local, staged, _file_sha256(local))
                self.fs.copy(self.path_of(staged), self.path_of(key))
            finally:
                with contextlib.suppress(Exception):
                    self.fs.rm(self.path_of(staged.rpartition("/")[0]), recursive=True)

    def publish_tree(
        self,
        local_dir: Path,
        key: str,
        *,
        files: list[str] | None = None,
        expected: Mapping[str, str] | None = None,
        last: str | None = None,
    ) -> str:
        """Publish the files of ``local_dir`` under ``key``; return the directory's URL.

        Args:
            local_dir: The finished local directory.
            key: Where it goes in the store.
            files: Relative paths to publish; default every file below ``local_dir``.
            expected: SHA-256 per relative path (a manifest): each staged object must match
                it, not merely the local file.
            last: The relative path copied into place last (a completion marker).

        Raises:
            StorageError: An upload fails or a staged object does not match its checksum;
                the final keys are untouched unless every object was verified.

        """
        names = (
            files
            if files is not None
            else sorted(
                p.relative_to(local_dir).as_posix() for p in local_dir.rglob("*") if p.is_file()
            )
        )
        names = sorted(names, key=lambda name: (name == last, name))
        staging = self._staging_key()
        with self._errors(f"publishing {key}"):
            try:
                for name in names:
                    local = local_dir / name
                    digest = _file_sha256(local)
                    if expected is not None and name in expected and expected[name] != digest:
                        raise StorageError(
                            f"{local} has SHA-256 {digest}, its manifest says "
                            f"{expected[name]}; it changed after it was written. Nothing "
                            "was published; run again."
                        )
                    self._upload_verified(local, f"{staging}/{name}", digest)
                for name in names:
                    self.fs.copy(self.path_of(f"{staging}/{name}"), self.path_of(f"{key}/{name}"))
            finally:
                with contextlib.suppress(Exception):
                    self.fs.rm(self.path_of(staging), recursive=True)
        return self.url_of(key)

    def download_tree(self, key: str, target: Path) -> None:
        """Download every object under ``key`` into ``target`` (which must not exist yet)."""
        from glocal.core.atomic import atomic_directory

        keys = self.list_files(key)
        if not keys:
            raise StorageError(f"storage {self.url}: there is nothing at {key}.")
        with self._errors(f"downloading {key}"), atomic_directory(target, replace=True) as tmp:
            for full in keys:
                local = tmp / full[len(key) + 1 :]
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self.path_of(full), str(local))

    def delete_tree(self, key: str) -> bool:
        """Delete every object under ``key``; return whether there was any."""
        with self._errors(f"deleting {key}"):
            path = self.path_of(key)
            if not self.fs.exists(path):
                return False
            self.fs.rm(path, recursive=True)
        return True

    def remove_staging(self, older_than: dt.timedelta = dt.timedelta(hours=6)) -> list[str]:
        """Delete staging uploads older than ``older_than``; return the keys removed.

        Staging keys are named by their UTC start time, so a live upload (younger than
        ``older_than``) is left alone.
        """
        cutoff = dt.datetime.now(dt.UTC) - older_than
        removed = []
        with self._errors("cleaning staged uploads"):
            base = self.path_of(STAGING_PREFIX)
            if not self.fs.exists(base):
                return []
            for entry in self.fs.ls(base, detail=False):
                name = str(entry).rstrip("/").rsplit("/", 1)[-1]
                try:
                    started = dt.datetime.strptime(name.split("-", 1)[0], _STAGING_FORMAT)
                except ValueError:
                    continue
                if started.replace(tzinfo=dt.UTC) < cutoff:
                    self.fs.rm(str(entry), recursive=True)
                    removed.append(f"{STAGING_PREFIX}/{name}")
        return removed
