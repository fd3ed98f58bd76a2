"""Transaction files given as URLs (``s3://bucket/2011-12-09.parquet``): fetched, then ingested.

The file is downloaded through the same :class:`~glocal.core.storage.ObjectStore` as the
workspace's own files, with ``storage.endpoint_url`` and ``storage.options``, into a
directory of the (scratch) workspace; its data version records the URL it came from.
"""

from __future__ import annotations

from pathlib import Path

from glocal.config import Settings
from glocal.core.errors import DataFileError
from glocal.core.storage import ObjectStore

__all__ = ["fetch_input_file"]


def fetch_input_file(url: str, directory: Path, settings: Settings) -> Path:
    """Download the file at ``url`` into ``directory`` and return the local copy.

    Raises:
        DataFileError: ``url`` names no file, or it does not exist in its store.
        StorageError: The store cannot be reached.

    """
    parent, _, name = url.rstrip("/").rpartition("/")
    if not name or "://" not in parent:
        raise DataFileError(
            f"--data {url}: name a file inside a bucket, e.g. s3://bucket/transactions.parquet."
        )
    store = ObjectStore(
        parent, endpoint_url=settings.storage.endpoint_url, options=settings.storage.options
    )
    if not store.exists(name):
        raise DataFileError(
            f"the data file {url} does not exist. Check the URL (and storage.endpoint_url "
            "for an S3-compatible server)."
        )
    target = directory / name
    store.download(name, target)
    return target
