"""Alias moves and bundle retention, as statements on an open registry transaction.

:class:`glocal.registry.Registry` opens the transaction; these functions do the SQL.
Every function that decides which run an alias may point at first locks the alias rows
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises write transactions), so a
promotion and a prune cannot interleave: a run is never pruned while it is being promoted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from glocal.core import clock
from glocal.core.errors import RegistryError
from glocal.registry.schema import alias_history, aliases, runs

__all__ = [
    "PRUNED",
    "check_servable",
    "lock_alias",
    "move_alias",
    "protected_runs",
    "prune_candidates",
    "run_before",
]

PRUNED = "pruned"
"""Status of a run whose bundle retention deleted; its records stay for history."""


def lock_alias(connection: Connection, alias: str) -> tuple[str, str | None] | None:
    """Lock ``alias`` and return its ``(run_id, previous_run_id)``, or None if unset."""
    row = connection.execute(
        select(aliases.c.run_id, aliases.c.previous_run_id)
        .where(aliases.c.name == alias)
        .with_for_update()
    ).first()
    return None if row is None else (row.run_id, row.previous_run_id)


def check_servable(connection: Connection, run_id: str, alias: str) -> bool:
    """Return whether ``run_id`` is recorded; raise if its bundle was pruned."""
    status = connection.execute(select(runs.c.status).where(runs.c.run_id == run_id)).scalar()
    if status == PRUNED:
        raise RegistryError(
            f"cannot point {alias!r} at run {run_id!r}: its bundle was deleted by "
            "retention (registry.keep_bundles); its records remain for history only. "
            "Choose a run whose bundle is kept (`glocal registry list` marks pruned runs)."
        )
    return status is not None


def move_alias(
    connection: Connection, alias: str, run_id: str, *, previous: str | None, action: str
) -> None:
    """Point ``alias`` at ``run_id`` (remembering ``previous``) and log it in the history."""
    now = clock.now()
    moved = connection.execute(
        aliases.update()
        .where(aliases.c.name == alias)
        .values(run_id=run_id, previous_run_id=previous, updated_at=now)
    )
    if moved.rowcount == 0:
        connection.execute(
            aliases.insert(),
            {"name": alias, "run_id": run_id, "previous_run_id": previous, "updated_at": now},
        )
    connection.execute(
        alias_history.insert(),
        {
            "name": alias,
            "action": action,
            "run_id": run_id,
            "previous_run_id": previous,
            "changed_at": now,
        },
    )


def run_before(connection: Connection, alias: str, run_id: str) -> str | None:
    """Return the run ``alias`` pointed to before it last moved to ``run_id``."""
    return connection.execute(
        select(alias_history.c.previous_run_id)
        .where(alias_history.c.name == alias, alias_history.c.run_id == run_id)
        .order_by(alias_history.c.id.desc())
        .limit(1)
    ).scalar()


def protected_runs(connection: Connection) -> set[str]:
    """Lock every alias; return the runs they point to and the runs a rollback returns to."""
    pointers = connection.execute(
        select(aliases.c.run_id, aliases.c.previous_run_id).with_for_update()
    ).all()
    return {run_id for pair in pointers for run_id in pair if run_id is not None}


def prune_candidates(connection: Connection, keep: int) -> list[Row[Any, Any, Any]]:
    """Return ``(run_id, status, bundle_path)`` of the runs whose bundles retention removes.

    That is every run older than the newest ``keep`` that no alias protects (see
    :func:`protected_runs`, which this calls, so the aliases stay locked), pruned or not.
    """
    kept = protected_runs(connection)
    ordered = connection.execute(
        select(runs.c.run_id, runs.c.status, runs.c.bundle_path).order_by(
            runs.c.created_at.desc(), runs.c.run_id.desc()
        )
    ).all()
    return [row for row in ordered[keep:] if row.run_id not in kept]
