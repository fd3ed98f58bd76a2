"""The data steps of the pipeline: ingest (or demo data) and the feature panel, with skips.

Each step is keyed by the content of its inputs: the data file's SHA-256 names the data
version (ingesting a known file does nothing), and the panel is rebuilt only when the data
version or the feature settings differ from those it was built with (its key is kept in
``data/processed/<version>/pipeline_panel.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core.atomic import write_json_atomic
from glocal.core.errors import ConfigError, DataFileError, WorkspaceError
from glocal.core.hashing import hash_json
from glocal.data import (
    DataVersion,
    ingest_file,
    latest_data_version,
    list_data_versions,
    load_clean_transactions,
    write_demo_file,
)
from glocal.features import (
    build_latest_snapshot,
    build_panel,
    read_current_panel,
    read_panel,
    write_panel,
)
from glocal.features.io import PanelFiles

__all__ = ["DataStep", "PanelStep", "data_step", "mark_panel_built", "panel_key", "panel_step"]

_PANEL_MARKER = "pipeline_panel.json"


@dataclass(frozen=True)
class DataStep:
    """The data version a run works on and whether it was ingested now."""

    version: DataVersion
    ran: bool
    detail: str


@dataclass(frozen=True)
class PanelStep:
    """The panel a run works on (loaded lazily) and whether it was built now."""

    key: str
    files: PanelFiles
    ran: bool
    detail: str
    panel: pd.DataFrame | None = None

    def load(self) -> pd.DataFrame:
        """Return the panel (read from disk if the step was skipped)."""
        return self.panel if self.panel is not None else read_panel(self.files.panel)


def data_step(workspace: Workspace, settings: Settings, data: Path | None) -> DataStep:
    """Ingest ``data`` (a no-op for a known file), or demo data in an empty workspace.

    Without ``data`` the latest data version is used; a workspace without any gets the
    generated demo transactions.

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
    elif not data.is_file():
        raise DataFileError(
            f"the data file {data} does not exist. Pass an existing CSV, Parquet or XLSX "
            "file with --data, or leave --data out to use the latest ingested data."
        )
    result = ingest_file(data, workspace, settings)
    verb = "already ingested as" if result.already_present else "ingested as"
    return DataStep(
        result.version, not result.already_present, f"{data.name} {verb} {result.version.version}"
    )


def panel_key(data_version: str, settings: Settings) -> str:
    """Content key of a panel: its data version and every feature setting."""
    return hash_json(
        {"data_version": data_version, "features": settings.features.model_dump(mode="json")}
    )


def _marker(files: PanelFiles) -> Path:
    return files.panel.parent / _PANEL_MARKER


def mark_panel_built(workspace: Workspace, data_version: str, settings: Settings) -> str:
    """Record that the panel of ``data_version`` was just built with ``settings``.

    `glocal features` calls this too, so a later `glocal run` reuses its panel instead of
    building the same one again. Returns the panel key.
    """
    key = panel_key(data_version, settings)
    files = PanelFiles.of(workspace, data_version)
    write_json_atomic(_marker(files), {"panel_key": key, "data_version": data_version})
    return key


def _is_current(workspace: Workspace, data_version: str, key: str, files: PanelFiles) -> bool:
    try:
        current = read_current_panel(workspace)
        recorded = json.loads(_marker(files).read_text(encoding="utf-8")).get("panel_key")
    except (OSError, ValueError, AttributeError, WorkspaceError):
        return False  # no or unreadable record: rebuild
    return (
        current.data_version == data_version
        and recorded == key
        and files.panel.is_file()
        and files.latest.is_file()
    )


def panel_step(workspace: Workspace, settings: Settings, version: DataVersion) -> PanelStep:
    """Build the panel and latest snapshot of ``version`` unless they are current."""
    key = panel_key(version.version, settings)
    files = PanelFiles.of(workspace, version.version)
    if _is_current(workspace, version.version, key, files):
        return PanelStep(key, files, False, "panel unchanged")
    transactions = load_clean_transactions(workspace, version.version)
    panel = build_panel(transactions, settings.features)
    latest = build_latest_snapshot(transactions, settings.features)
    write_panel(workspace, version.version, panel, latest, source=version.source_path)
    mark_panel_built(workspace, version.version, settings)
    detail = f"{len(panel):,} rows, {panel['entity_id'].nunique():,} entities"
    return PanelStep(key, files, True, detail, panel)
