"""The data steps of the pipeline: ingest (or demo data) and the feature panel, with skips.

Each step is keyed by the content of its inputs: the data file's SHA-256 names the data
version (ingesting a known file does nothing), and the panel is rebuilt only when the data
version, the as-of cut or the feature settings differ from those it was built with (its
key is kept in ``data/processed/<version>/pipeline_panel.json``).

An *as-of cut* (``glocal run --as-of DATE``) keeps only the transactions strictly before
``DATE``: the panel, its latest snapshot and the entity fingerprints then see the data as
it stood at midnight starting that day, as if the rest had not arrived yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from glocal.config import Settings, Workspace
from glocal.core.background import BackgroundCall
from glocal.core.errors import ConfigError, DataFileError, DataValidationError, WorkspaceError
from glocal.data import (
    DataVersion,
    IngestResult,
    ingest_file,
    latest_data_version,
    list_data_versions,
    load_clean_transactions,
    write_demo_file,
)
from glocal.data.versions import CLEAN_FILE
from glocal.features import read_current_panel, read_panel
from glocal.features.btyd import BTYD_FITS_FILE, load_remembered_fits, save_remembered_fits
from glocal.features.entity_history import history_path, kept_history_table, write_history_table
from glocal.features.io import PanelFiles, PanelTables, write_panel_tables
from glocal.features.transactions_panel import build_with_history
from glocal.pipeline.fingerprints import entity_fingerprints
from glocal.pipeline.panel_history import previous_history
from glocal.pipeline.panel_marker import (
    forget_panel_built,
    mark_panel_built,
    panel_key,
    recorded_panel_key,
)

__all__ = [
    "DataStep",
    "PanelStep",
    "data_step",
    "mark_panel_built",
    "panel_key",
    "panel_step",
    "transactions_as_of",
]


@dataclass(frozen=True)
class DataStep:
    """The data version a run works on and whether it was ingested now."""

    version: DataVersion
    ran: bool
    detail: str
    ingested: IngestResult | None = None
    """What the ingest did, when it ingested the version now: its cleaned transactions
    and digests in memory, and the thread still storing them (the local engine)."""


@dataclass(frozen=True)
class PanelStep:
    """The panel a run works on (loaded lazily) and whether it was built now."""

    key: str
    files: PanelFiles
    ran: bool
    detail: str
    panel: pd.DataFrame | None = None
    fingerprints: pd.DataFrame | None = None
    """The entity fingerprints of the transactions the panel was built from, when the
    step read them (the local engine): the train step then need not read them again."""
    writing: BackgroundCall | None = None
    """The thread writing the panel's files when the step built it now: the kept
    history, the panel and latest snapshot, and last the record that they are complete."""

    def load(self) -> pd.DataFrame:
        """Return the panel (read from disk if the step was skipped)."""
        return self.panel if self.panel is not None else read_panel(self.files.panel)

    def wait_written(self) -> None:
        """Return once the panel's files are on disk; raise what writing them raised."""
        if self.writing is not None:
            self.writing.wait()


def data_step(
    workspace: Workspace,
    settings: Settings,
    data: Path | str | None,
    on_new_data: Callable[[], None] | None = None,
) -> DataStep:
    """Ingest ``data`` (a no-op for a known file), or demo data in an empty workspace.

    Without ``data`` the latest data version is used; a workspace without any gets the
    generated demo transactions. A ``str`` is a URL (``s3://...``), fetched first.
    ``on_new_data`` is called before new data is read (see :func:`ingest_file`).

    Raises:
        DataFileError: ``data`` does not exist or cannot be read.

    """
    if settings.panel.mode != "transactions":
        raise ConfigError(
            "`glocal run` builds its panel from transactions, but panel.mode is 'panel'. "
            "Set panel.mode: transactions, or use `glocal features --panel` and "
            "`glocal evaluate` for a ready-made panel."
        )
    if data is None and list_data_versions(workspace):
        record = latest_data_version(workspace)
        return DataStep(record, False, f"latest data version {record.version}")
    if data is None:
        data = write_demo_file(
            workspace, seed=settings.seed, n_customers=settings.pipeline.demo_customers
        )
    elif isinstance(data, Path) and not data.is_file():
        raise DataFileError(
            f"the data file {data} does not exist. Pass an existing CSV, Parquet or XLSX "
            "file with --data, or leave --data out to use the latest ingested data."
        )
    # the local engine's features step works from memory while the version is written;
    # Spark's reads the version's files, so they must be on disk first
    result = ingest_file(
        data,
        workspace,
        settings,
        store_in_background=settings.engine == "local",
        on_new_data=on_new_data,
    )
    verb = "already ingested as" if result.already_present else "ingested as"
    name = data.name if isinstance(data, Path) else data.rstrip("/").rpartition("/")[2]
    return DataStep(
        result.version,
        not result.already_present,
        f"{name} {verb} {result.version.version}",
        None if result.already_present else result,
    )


def transactions_as_of(
    workspace: Workspace,
    version: DataVersion,
    as_of: dt.date | None,
    loaded: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the cleaned transactions of ``version`` strictly before ``as_of`` (all if None).

    ``loaded`` is the version's cleaned transactions if the caller has them already.

    Raises:
        DataValidationError: no transaction of the version lies before ``as_of``.

    """
    transactions = load_clean_transactions(workspace, version.version) if loaded is None else loaded
    if as_of is None:
        return transactions
    kept = transactions.loc[transactions["timestamp"] < pd.Timestamp(as_of)]
    if kept.empty:
        raise _nothing_before(version, as_of)
    return kept.reset_index(drop=True)


def _nothing_before(version: DataVersion, as_of: dt.date) -> DataValidationError:
    return DataValidationError(
        f"--as-of {as_of} keeps no transaction of data version {version.version}: its "
        f"data starts on {version.date_min.date()}. Give a later --as-of date."
    )


def _is_current(workspace: Workspace, data_version: str, key: str, files: PanelFiles) -> bool:
    try:
        current = read_current_panel(workspace)
    except WorkspaceError:
        return False  # no or unreadable record: rebuild
    recorded = recorded_panel_key(workspace, data_version)
    return (
        current.data_version == data_version
        and recorded == key
        and files.panel.is_file()
        and files.latest.is_file()
    )


def panel_step(
    workspace: Workspace,
    settings: Settings,
    version: DataVersion,
    as_of: dt.date | None = None,
    ingested: IngestResult | None = None,
) -> PanelStep:
    """Build the panel and latest snapshot of ``version`` (cut at ``as_of``) unless current.

    ``ingested`` is what the data step did when it ingested ``version`` now: the cleaned
    transactions and digests are then taken from memory, and the panel's files are
    written only once the version's own files are stored (``ingested.storing``). If this
    raises before then, the caller joins that thread.

    A panel built now is written on a thread (:attr:`PanelStep.writing`) while the caller
    goes on with it in memory: :meth:`PanelStep.wait_written` returns once its files are
    on disk. The caller must not write into the panel's arrays in place before then.

    Raises:
        OSError: storing the version failed, for one on a full disk (whatever storing
            it raised is raised here; the panel is not written).

    """
    key = panel_key(version.version, settings, as_of)
    files = PanelFiles.of(workspace, version.version)
    storing = ingested.storing if ingested is not None else None
    if storing is not None and settings.engine == "spark":
        storing.wait()  # Spark reads the version's files
    if ingested is None and _is_current(workspace, version.version, key, files):
        return PanelStep(key, files, False, "panel unchanged")
    fingerprints, rebuilt = None, ""
    transactions: pd.DataFrame | None = None
    history: tuple[Path, pa.Table] | None = None
    if settings.engine == "spark":  # Spark SQL reads the file: it never comes here
        from glocal.pipeline.engine import panel_on_spark

        if as_of is not None and as_of <= version.date_min.date():
            raise _nothing_before(version, as_of)
        clean_file = workspace.processed_dir(version.version) / CLEAN_FILE
        panel, latest = panel_on_spark(settings, clean_file, as_of)
    else:
        transactions, digests = (
            (None, None) if ingested is None else (ingested.transactions, ingested.digests)
        )
        del ingested
        transactions = transactions_as_of(workspace, version, as_of, transactions)
        fits = workspace.root / "data" / "processed" / BTYD_FITS_FILE
        load_remembered_fits(fits)  # yesterday's cutoffs have the same history: not refitted
        previous = (
            None if as_of is not None else previous_history(workspace, settings, version, digests)
        )
        built = build_with_history(transactions, settings.features, previous)
        panel, latest = built.panel, built.latest
        if storing is not None:  # the history and panel go beside the version's files
            storing.wait()
        save_remembered_fits(fits)
        if as_of is None:  # the history of a cut is not the version's: never kept
            kept = history_path(workspace.processed_dir(version.version), settings.features)
            history = (kept, kept_history_table(built.history))
        del built
        if previous is not None:
            rebuilt = f", the history of {len(previous.rebuilt):,} rebuilt"
    forget_panel_built(workspace, version.version)
    tables = PanelTables.of(panel, latest)

    def write_files() -> None:  # on a thread: Arrow tables only, no pandas object shared
        if history is not None:
            write_history_table(*history)
        write_panel_tables(workspace, version.version, tables, version.source_path, as_of)
        mark_panel_built(workspace, version.version, settings, as_of)

    writing = BackgroundCall(write_files, name="glocal-write-panel")
    if transactions is not None:  # while the files are written
        fingerprints = entity_fingerprints(transactions)
    detail = f"{len(panel):,} rows, {panel['entity_id'].nunique():,} entities{rebuilt}"
    return PanelStep(key, files, True, detail, panel, fingerprints, writing)
