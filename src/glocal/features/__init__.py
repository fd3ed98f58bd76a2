"""Feature layer: point-in-time panels, the latest snapshot and the time split.

Examples:
    >>> from glocal.features import build_panel, split_panel
    >>> sorted(__all__)[:3]
    ['BlockRange', 'CurrentPanel', 'Fold']

"""

from __future__ import annotations

from glocal.features.drift import feature_baseline, population_stability
from glocal.features.generic_panel import latest_rows, load_generic_panel
from glocal.features.io import (
    CurrentPanel,
    PanelFiles,
    read_current_panel,
    read_panel,
    write_panel,
)
from glocal.features.schema import categorical_columns, feature_columns
from glocal.features.split import (
    BlockRange,
    Fold,
    PanelSplit,
    resolve_embargo,
    rolling_folds,
    split_panel,
)
from glocal.features.transactions_panel import (
    build_latest_snapshot,
    build_panel,
    build_panel_and_latest,
)

__all__ = [
    "BlockRange",
    "CurrentPanel",
    "Fold",
    "PanelFiles",
    "PanelSplit",
    "build_latest_snapshot",
    "build_panel",
    "build_panel_and_latest",
    "categorical_columns",
    "feature_baseline",
    "feature_columns",
    "latest_rows",
    "load_generic_panel",
    "population_stability",
    "read_current_panel",
    "read_panel",
    "resolve_embargo",
    "rolling_folds",
    "split_panel",
    "write_panel",
]
