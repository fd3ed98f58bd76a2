"""Data versions: one content-addressed record per ingested file, and loading what it holds.

A data version is named by the first 12 hex digits of the SHA-256 of the file's bytes (for
one sheet of a workbook with several sheets, of the file hash and the sheet name), so the
same file always gets the same version and any change gives a new one. Its record lives in
``data/versions/<version>.json``; its cleaned rows in ``data/processed/<version>/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from glocal.config import Workspace
from glocal.core.atomic import write_json_atomic
from glocal.core.errors import DataFileError, WorkspaceError
from glocal.data.columns import CLEAN_COLUMNS
from glocal.data.report import CleaningReport

__all__ = [
    "CLEAN_FILE",
    "REPORT_FILE",
    "DataVersion",
    "as_clean_frame",
    "get_data_version",
    "latest_data_version",
    "list_data_versions",
    "load_clean_transactions",
    "version_id",
    "write_version_record",
]

CLEAN_FILE = "transactions.parquet"
"""Name of the cleaned transactions inside ``data/processed/<version>/``."""
REPORT_FILE = "cleaning_report.json"
"""Name of the cleaning report inside ``data/processed/<version>/``."""

_VERSION_LENGTH = 12
_VERSION_PATTERN = re.compile(rf"^[0-9a-f]{{{_VERSION_LENGTH}}}$")
_CLEAN_DTYPES: dict[str, str] = {
    "entity_id": "string",
    "invoice": "string",
    "stock_code": "string",
    "description": "string",
    "quantity": "int64",
    "unit_price": "float64",
    "timestamp": "datetime64[ns]",
    "country": "string",
    "amount": "float64",
    "is_cancellation": "bool",
}


def version_id(file_sha256: str, sheet: str | None = None) -> str:
    """Return the version id of a file hash, qualified by a sheet for multi-sheet workbooks.

    Examples:
        >>> version_id("ab" * 32)
        'abababababab'

    """
    if sheet is None:
        return file_sha256[:_VERSION_LENGTH]
    qualified = hashlib.sha256(f"{file_sha256}:{sheet}".encode()).hexdigest()
    return qualified[:_VERSION_LENGTH]


class DataVersion(BaseModel):
    """The record of one ingested file: where it came from, what it held, how it was cleaned.

    Attributes:
        version: the version id (12 hex digits).
        source_path: absolute path of the file when it was ingested.
        file_sha256: SHA-256 of the file's bytes.
        file_bytes: size of the file.
        format: ``"csv"``, ``"parquet"`` or ``"xlsx"``.
        sheet: the worksheet read from a workbook, else ``None``.
        rows: rows in the file (before cleaning).
        entities: distinct customer ids in the file (before cleaning).
        rows_clean: rows left after cleaning.
        entities_clean: distinct customer ids left after cleaning.
        column_types: the file's columns and the dtype each was read as.
        column_mapping: which file column fed each field of ``settings.columns``.
        date_min: earliest timestamp in the file.
        date_max: latest timestamp in the file.
        ingested_at: when the version was created (UTC).
        cleaning_settings: the ``cleaning`` settings it was cleaned with.
        cleaning: the cleaning report.

    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    source_path: str
    file_sha256: str
    file_bytes: int
    format: str
    sheet: str | None
    rows: int
    entities: int
    rows_clean: int
    entities_clean: int
    column_types: dict[str, str]
    column_mapping: dict[str, str]
    date_min: dt.datetime
    date_max: dt.datetime
    ingested_at: dt.datetime
    cleaning_settings: dict[str, Any]
    cleaning: CleaningReport


def _record_path(workspace: Workspace, version: str) -> Path:
    return workspace.versions_dir / f"{version}.json"


def write_version_record(workspace: Workspace, record: DataVersion) -> None:
    """Write ``record`` to ``data/versions/<version>.json`` atomically."""
    write_json_atomic(_record_path(workspace, record.version), record.model_dump(mode="json"))


def list_data_versions(workspace: Workspace) -> list[DataVersion]:
    """Return every data version of the workspace, oldest ingestion first.

    Raises:
        WorkspaceError: a record exists but cannot be read.

    """
    records: list[DataVersion] = []
    if not workspace.versions_dir.is_dir():
        return records
    for path in sorted(workspace.versions_dir.glob("*.json")):
        if not _VERSION_PATTERN.match(path.stem):
            continue
        try:
            records.append(DataVersion.model_validate(json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, ValidationError) as exc:
            raise WorkspaceError(
                f"the data version record {path} is damaged ({exc}). Delete it and the "
                f"folder data/processed/{path.stem}, then run `glocal ingest FILE` again."
            ) from None
    return sorted(records, key=lambda record: (record.ingested_at, record.version))


def get_data_version(workspace: Workspace, version: str) -> DataVersion:
    """Return the record of ``version``.

    Raises:
        WorkspaceError: there is no such version in the workspace (the message lists them).

    """
    records = {record.version: record for record in list_data_versions(workspace)}
    if version not in records:
        known = ", ".join(records) or "none; run `glocal ingest FILE` first"
        raise WorkspaceError(
            f"data version {version!r} is not in the workspace {workspace.root}; "
            f"known versions: {known}."
        )
    return records[version]


def latest_data_version(workspace: Workspace) -> DataVersion:
    """Return the most recently ingested data version.

    Raises:
        WorkspaceError: nothing has been ingested yet.

    """
    records = list_data_versions(workspace)
    if not records:
        raise WorkspaceError(
            f"the workspace {workspace.root} has no data yet: run `glocal ingest FILE` first."
        )
    return records[-1]


def load_clean_transactions(workspace: Workspace, version: str | None = None) -> pd.DataFrame:
    """Load the cleaned transactions of ``version`` (default: the latest data version).

    Returns:
        The frame ``clean_transactions`` produced: canonical columns plus ``amount`` and
        ``is_cancellation``.

    Raises:
        WorkspaceError: the version is unknown or nothing has been ingested.
        DataFileError: the cleaned file is missing or damaged.

    """
    record = (
        latest_data_version(workspace) if version is None else get_data_version(workspace, version)
    )
    path = workspace.processed_dir(record.version) / CLEAN_FILE
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataFileError(
            f"cannot read the cleaned transactions of data version {record.version} at "
            f"{path} ({exc}). Delete data/versions/{record.version}.json and ingest "
            f"{record.source_path} again."
        ) from None
    return as_clean_frame(frame)


def as_clean_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame``'s cleaned-transaction columns in the dtypes a loaded version has."""
    return frame.loc[:, list(CLEAN_COLUMNS)].astype(_CLEAN_DTYPES)
