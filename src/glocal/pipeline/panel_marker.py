"""The record of which feature settings built the panel in a data version's folder.

``data/processed/<version>/pipeline_panel.json`` holds the *panel key*: a hash of the data
version, the as-of cut and every feature setting. The features step forgets it before
writing a panel and records it after, so a build killed half-way never leaves a panel
that a later run takes for one built with other settings.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from glocal.config import Settings, Workspace
from glocal.core.atomic import write_json_atomic
from glocal.core.hashing import hash_json
from glocal.features.io import PanelFiles

__all__ = [
    "PANEL_MARKER",
    "forget_panel_built",
    "mark_panel_built",
    "panel_key",
    "recorded_panel_key",
]

PANEL_MARKER = "pipeline_panel.json"


def _marker_path(workspace: Workspace, data_version: str) -> Path:
    return PanelFiles.of(workspace, data_version).panel.parent / PANEL_MARKER


def panel_key(data_version: str, settings: Settings, as_of: dt.date | None = None) -> str:
    """Content key of a panel: its data version, its as-of cut and every feature setting."""
    key: dict[str, object] = {
        "data_version": data_version,
        "features": settings.features.model_dump(mode="json"),
    }
    if as_of is not None:
        key["as_of"] = as_of.isoformat()
    return hash_json(key)


def recorded_panel_key(workspace: Workspace, data_version: str) -> str | None:
    """Return the key recorded for the panel of ``data_version``; None if none or unreadable."""
    path = _marker_path(workspace, data_version)
    try:
        key = json.loads(path.read_text(encoding="utf-8")).get("panel_key")
    except (OSError, ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None


def mark_panel_built(
    workspace: Workspace, data_version: str, settings: Settings, as_of: dt.date | None = None
) -> str:
    """Record that the panel of ``data_version`` was just built with ``settings``.

    `glocal features` calls this too, so a later `glocal run` reuses its panel instead of
    building the same one again. Returns the panel key.
    """
    key = panel_key(data_version, settings, as_of)
    write_json_atomic(
        _marker_path(workspace, data_version), {"panel_key": key, "data_version": data_version}
    )
    return key


def forget_panel_built(workspace: Workspace, data_version: str) -> None:
    """Remove the record of ``data_version``'s panel, before a new one is written there."""
    _marker_path(workspace, data_version).unlink(missing_ok=True)
