"""Find the panel that model commands work on: the one ``glocal features`` built last."""

from __future__ import annotations

from typing import Any

import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core.errors import WorkspaceError
from glocal.data import latest_data_version, list_data_versions
from glocal.features import read_current_panel, read_panel

__all__ = ["load_workspace_panel", "load_workspace_transactions"]


def load_workspace_panel(
    workspace: Workspace, settings: Settings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the current panel and the ``dataset`` section of metrics.json describing it.

    Raises:
        WorkspaceError: no panel was built, or a newer data version was ingested since.

    """
    current = read_current_panel(workspace)
    if settings.panel.mode == "transactions" and list_data_versions(workspace):
        newest = latest_data_version(workspace).version
        if newest != current.data_version:
            raise WorkspaceError(
                f"the current panel was built from data version {current.data_version}, but "
                f"version {newest} was ingested since. Run `glocal features` to rebuild it."
            )
    panel = read_panel(current.files.panel)
    dataset = {
        "path": current.source,
        "data_version": current.data_version,
        "entities": int(panel["entity_id"].nunique()),
        "rows": len(panel),
    }
    return panel, dataset


def load_workspace_transactions(
    workspace: Workspace, settings: Settings, dataset: dict[str, Any]
) -> pd.DataFrame | None:
    """Return the cleaned transactions the current panel was built from (``None`` if none)."""
    if settings.panel.mode != "transactions":
        return None
    from glocal.data import load_clean_transactions

    return load_clean_transactions(workspace, str(dataset["data_version"]))
