"""Retention: delete the bundles and entity states of old runs, keep their records."""

from __future__ import annotations

from glocal.config import Settings, Workspace
from glocal.pipeline.state import cleanup_orphan_states
from glocal.registry import Registry, list_bundles

__all__ = ["prune_old_runs"]


def prune_old_runs(
    workspace: Workspace, settings: Settings, keep: int, *, dry_run: bool = False
) -> list[str]:
    """Prune the bundles of all but the newest ``keep`` runs, then their entity states.

    See :meth:`glocal.registry.Registry.prune_bundles` for what is always kept. The caller
    holds the workspace lock. Returns the run ids pruned (or, with ``dry_run``, that
    would be).
    """
    with Registry.open(settings.registry.url, workspace) as registry:
        pruned = registry.prune_bundles(keep, dry_run=dry_run)
    if not dry_run:
        cleanup_orphan_states(workspace, {path.name for path in list_bundles(workspace)})
    return pruned
