"""``ingest_file``: read, validate, clean and store one transaction file as a data version.

Output is written atomically and in an order that makes the version record the commit
marker: first ``data/processed/<version>/`` appears complete (cleaned transactions, the
cleaning report and the entity digests of :mod:`glocal.data.digests`), then
``data/versions/<version>.json``. A failure at any step leaves no trace under
``data/processed/``, and a version without a record is redone on the next run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from glocal.config import Settings, Workspace
from glocal.core import clock
from glocal.core.atomic import atomic_directory, write_json_atomic
from glocal.core.background import BackgroundCall
from glocal.core.hashing import hash_file
from glocal.core.logging import get_logger
from glocal.core.progress import step_progress
from glocal.core.storage import is_url
from glocal.data.cleaning import CleanedTransactions, clean_with_digests
from glocal.data.columns import resolve_columns
from glocal.data.digests import DIGESTS_FILE, as_digest_frame
from glocal.data.fetch import fetch_input_file
from glocal.data.files import (
    FileFormat,
    check_file,
    choose_sheet,
    detect_format,
    read_raw_table,
)
from glocal.data.readers import standardize
from glocal.data.report import CleaningReport
from glocal.data.versions import (
    CLEAN_FILE,
    REPORT_FILE,
    DataVersion,
    as_clean_frame,
    list_data_versions,
    version_id,
    write_version_record,
)

__all__ = ["IngestResult", "ingest_file"]

_log = get_logger(__name__)

# Files above these sizes take more than a couple of seconds to read, so show progress.
_SLOW_BYTES = {"csv": 20_000_000, "parquet": 50_000_000, "xlsx": 1_000_000}


@dataclass(frozen=True)
class IngestResult:
    """What ``ingest_file`` did.

    Attributes:
        version: the record of the data version.
        report: its cleaning report (also in ``version.cleaning``).
        processed_dir: ``data/processed/<version>``, holding the cleaned transactions.
        already_present: true when the file had been ingested before and nothing was done.
        transactions: the cleaned transactions just stored, as
            :func:`~glocal.data.load_clean_transactions` would return them (None when
            nothing was ingested): a caller that goes on to use them need not read them.
        digests: the entity digests just stored, as
            :func:`~glocal.data.digests.load_entity_digests` would return them (None when
            nothing was ingested).
        storing: with ``store_in_background``, the thread writing the version's files and
            record; :meth:`BackgroundCall.wait` returns once they are on disk, and raises
            if writing them failed. None when they were written before ``ingest_file``
            returned.

    """

    version: DataVersion
    report: CleaningReport
    processed_dir: Path
    already_present: bool
    transactions: pd.DataFrame | None = None
    digests: pd.DataFrame | None = None
    storing: BackgroundCall | None = None


def _existing(workspace: Workspace, version: str) -> DataVersion | None:
    for record in list_data_versions(workspace):
        if record.version == version:
            if (workspace.processed_dir(version) / CLEAN_FILE).is_file():
                return record
            _log.warning("data version %s lost its cleaned data; ingesting again", version)
    return None


def _build_record(
    path: Path,
    file_sha256: str,
    version: str,
    raw: pd.DataFrame,
    source_types: dict[str, str],
    mapping: dict[str, str],
    clean: pd.DataFrame,
    report: CleaningReport,
    settings: Settings,
    file_format: str,
    sheet: str | None,
    source: str | None,
) -> DataVersion:
    return DataVersion(
        version=version,
        source_path=source or str(path.resolve()),
        file_sha256=file_sha256,
        file_bytes=path.stat().st_size,
        format=file_format,
        sheet=sheet,
        rows=len(raw),
        entities=int(raw["entity_id"].nunique()),
        rows_clean=len(clean),
        entities_clean=int(clean["entity_id"].nunique()),
        column_types=source_types,
        column_mapping=mapping,
        date_min=raw["timestamp"].min().to_pydatetime(),
        date_max=raw["timestamp"].max().to_pydatetime(),
        ingested_at=clock.now(),
        cleaning_settings=settings.cleaning.model_dump(mode="json"),
        cleaning=report,
    )


def _read_and_clean(
    path: Path,
    sheet: str | None,
    settings: Settings,
    file_format: FileFormat,
    file_sha256: str,
    version: str,
    source: str | None = None,
) -> tuple[DataVersion, CleanedTransactions]:
    """Read, check and clean the file; return the version's record and its cleaned data."""
    slow = path.stat().st_size > _SLOW_BYTES[file_format]
    with step_progress(f"Reading {path.name}", total=3, enabled=slow) as progress:
        table = read_raw_table(path, sheet)
        progress.advance("Checking columns and values")
        source_types = {str(name): str(dtype) for name, dtype in table.frame.dtypes.items()}
        mapping = resolve_columns(table.frame.columns, settings.columns, path)
        raw = standardize(table, mapping)
        del table
        progress.advance("Cleaning")
        cleaned = clean_with_digests(raw, settings.cleaning)
        record = _build_record(
            path,
            file_sha256,
            version,
            raw,
            source_types,
            mapping,
            cleaned.frame,
            cleaned.report,
            settings,
            file_format,
            sheet if file_format == "xlsx" else None,
            source,
        )
        progress.advance()
    return record, cleaned


def _store(workspace: Workspace, record: DataVersion, tables: dict[str, pa.Table]) -> None:
    """Publish the version's files, then its record (the commit marker).

    Only Arrow tables and the record reach here: a thread storing them shares no pandas
    object with the caller (the tables may share the cleaned frame's numeric arrays,
    which nothing writes into in place).
    """
    with atomic_directory(workspace.processed_dir(record.version)) as tmp:
        for name, table in tables.items():
            pq.write_table(table, tmp / name)
        write_json_atomic(tmp / REPORT_FILE, record.cleaning.model_dump(mode="json"))
    write_version_record(workspace, record)


def _as_tables(cleaned: CleanedTransactions) -> dict[str, pa.Table]:
    """Return the version's Parquet files as Arrow tables (as ``DataFrame.to_parquet``)."""
    return {
        CLEAN_FILE: pa.Table.from_pandas(cleaned.frame, preserve_index=False),
        DIGESTS_FILE: pa.Table.from_pandas(cleaned.digests, preserve_index=False),
    }


def ingest_file(
    path: Path | str,
    workspace: Workspace,
    settings: Settings,
    sheet: str | None = None,
    *,
    store_in_background: bool = False,
    on_new_data: Callable[[], None] | None = None,
) -> IngestResult:
    """Read, validate and clean a transaction file and store it as a new data version.

    Ingesting a file that is already a data version of the workspace does nothing and
    returns the existing version with ``already_present=True``.

    With ``store_in_background`` the version's files and record are written on a thread
    (:attr:`IngestResult.storing`) while the caller goes on with the cleaned data in
    memory; until that thread is done, the version is not on disk and nothing may be
    written under its ``data/processed/<version>/``. The files and their order are the
    same either way.

    Args:
        path: a CSV, Parquet or XLSX transaction file, or its URL (``s3://...``), which
            is downloaded into ``data/raw/`` first and recorded as the version's source.
        workspace: the workspace to store the version in.
        settings: the workspace settings (``columns`` and ``cleaning`` are used).
        sheet: the worksheet to read from a workbook with several sheets.
        store_in_background: write the version on a thread and return before it is
            written (see above).
        on_new_data: called once the file is known to be new, before it is read: a
            caller can start work that only new data needs (the pipeline imports the
            model layer on a thread meanwhile).

    Raises:
        DataFileError: the file is missing, empty, damaged or of an unsupported format.
        DataValidationError: columns are missing or values cannot be parsed.

    Examples:
        >>> result = ingest_file(Path("online_retail.xlsx"), workspace, settings)  # doctest: +SKIP
        >>> result.version.rows, result.version.entities  # doctest: +SKIP
        (541909, 4372)

    """
    source: str | None = None
    if isinstance(path, str) and is_url(path):
        source, path = path, fetch_input_file(path, workspace.raw_dir, settings)
    path = Path(path)
    file_format = detect_format(path)
    check_file(path)
    qualifier: str | None = None
    if file_format == "xlsx":
        sheet, sheets = choose_sheet(path, sheet)
        qualifier = sheet if len(sheets) > 1 else None
    file_sha256 = hash_file(path)
    version = version_id(file_sha256, qualifier)
    processed_dir = workspace.processed_dir(version)

    existing = _existing(workspace, version)
    if existing is not None:
        if existing.cleaning_settings != settings.cleaning.model_dump(mode="json"):
            _log.warning(
                "data version %s was cleaned with other cleaning settings than the current "
                "ones; delete data/versions/%s.json to ingest it again with the new ones",
                version,
                version,
            )
        return IngestResult(existing, existing.cleaning, processed_dir, already_present=True)
    if on_new_data is not None:
        on_new_data()
    record, cleaned = _read_and_clean(
        path, sheet, settings, file_format, file_sha256, version, source
    )
    if processed_dir.exists():  # left by a run that died before writing its record
        shutil.rmtree(processed_dir)
    tables = _as_tables(cleaned)
    storing: BackgroundCall | None = None
    if store_in_background:
        storing = BackgroundCall(
            lambda: _store(workspace, record, tables), name="glocal-store-data-version"
        )
    else:
        _store(workspace, record, tables)
    _log.info(
        "ingested %s as data version %s: %d rows, %d kept after cleaning",
        path.name,
        version,
        record.rows,
        record.rows_clean,
    )
    return IngestResult(
        record,
        cleaned.report,
        processed_dir,
        already_present=False,
        transactions=as_clean_frame(cleaned.frame),
        digests=as_digest_frame(cleaned.digests),
        storing=storing,
    )
