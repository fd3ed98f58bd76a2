"""Which kept history the features step starts from, and which entities it recomputes.

The last panel built from a whole data version left its per-(entity, day) history beside
it (:mod:`glocal.features.entity_history`). When a new version arrives, the entity digests
of both versions (:mod:`glocal.data.digests`) name the entities whose cleaned lines differ;
only those are aggregated again. Anything missing or unreadable (a version ingested before
digests existed, a panel of an ``--as-of`` cut, other feature settings) means a full
build, which gives the same panel. The last panel's rows are copied only if its record
(:mod:`glocal.pipeline.panel_marker`) says these feature settings built it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core.errors import DataFileError, WorkspaceError
from glocal.core.logging import get_logger
from glocal.data import DataVersion
from glocal.data.digests import changed_entities, load_entity_digests
from glocal.features import read_current_panel
from glocal.features.entity_history import PreviousHistory, history_path, read_history
from glocal.pipeline.panel_marker import panel_key, recorded_panel_key

__all__ = ["MOST_REBUILT", "previous_history"]

_log = get_logger(__name__)

MOST_REBUILT = 0.5
"""Above this share of entities changed, the features step builds in full: as fast, and
the kept history is not read."""


def previous_history(
    workspace: Workspace,
    settings: Settings,
    version: DataVersion,
    digests: pd.DataFrame | None = None,
) -> PreviousHistory | None:
    """Return the history of the current panel and the entities ``version`` changed.

    ``digests`` are ``version``'s entity digests when the caller has them (the ingest step
    just computed them); else they are read from the version's files.

    None when the panel must be built in full: no current panel of a whole data version,
    no history kept for these feature settings, a version without digests, more than
    :data:`MOST_REBUILT` of the entities changed, or a kept file that cannot be read
    (logged as a warning).
    """
    try:
        current = read_current_panel(workspace)
    except WorkspaceError:
        return None
    path = history_path(workspace.processed_dir(current.data_version), settings.features)
    if current.as_of is not None or not path.is_file():
        return None
    try:
        before = load_entity_digests(workspace, current.data_version)
        now = load_entity_digests(workspace, version.version) if digests is None else digests
        if before is None or now is None:
            return None
        rebuilt = changed_entities(before, now)
        if len(rebuilt) > MOST_REBUILT * len(now):
            return None
        kept = read_history(path)
        # the panel beside it may have been built with other feature settings since
        same = recorded_panel_key(workspace, current.data_version) == panel_key(
            current.data_version, settings
        )
        panel = _written_panel(current.files.panel) if same else None
        previous = PreviousHistory(kept, rebuilt, panel)
    except DataFileError as error:
        _log.warning("building the panel from all transactions: %s", error)
        return None
    _log.info(
        "panel: %d of %d entities changed since data version %s; the others' history is kept",
        len(rebuilt),
        len(now),
        current.data_version,
    )
    return previous


def _written_panel(path: Path) -> pd.DataFrame | None:
    """Return the panel file as written (no re-sorting: it was written sorted), or None."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:
        _log.warning("the last panel %s cannot be read (%s): every row is computed", path, error)
        return None
