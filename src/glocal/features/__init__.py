"""Feature layer: point-in-time panels, the latest snapshot and the time split.

Examples:
    >>> from glocal.features import build_panel, split_panel
    >>> sorted(__all__)[:3]
    ['BlockRange', 'PanelFiles', 'PanelSplit']

"""

from __future__ import annotations

from glocal.features.generic_panel import latest_rows, load_generic_panel
from glocal.features.io import (
    CurrentPanel,
    PanelFiles,
    read_current_panel,
    read_panel,
    write_panel,
)
from glocal.features.schema import categorical_columns, feature_columns
from glocal.features.split import BlockRange, PanelSplit, split_panel
from glocal.features.transactions_panel import build_latest_snapshot, build_panel

__all__ = [
    "BlockRange",
    "CurrentPanel",
    "PanelFiles",
    "PanelSplit",
    "build_latest_snapshot",
    "build_panel",
    "categorical_columns",
    "feature_columns",
    "latest_rows",
    "load_generic_panel",
    "read_current_panel",
    "read_panel",
    "split_panel",
    "write_panel",
]
