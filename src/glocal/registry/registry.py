"""The :class:`Registry`: runs, global model versions, per-entity models and aliases.

Every write is one transaction: a run and its 100,000 entity rows are recorded together or
not at all, and moving an alias (promotion, rollback) is a single row update inside a
transaction that locks it, so readers see the old or the new run, never a mix.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from glocal.config import Workspace
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with Registry.open(None, Workspace(Path(tmp))) as registry:
    ...         print(registry.alias("production"), len(registry.list_runs()))
    None 0

"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from glocal.config import Workspace
from glocal.core import clock
from glocal.core.atomic import write_json_atomic
from glocal.core.errors import RegistryError, RegistryLookupError
from glocal.registry.aliases import (
    PRUNED,
    check_servable,
    lock_alias,
    move_alias,
    prune_candidates,
    run_before,
)
from glocal.registry.bundles import verify_bundle
from glocal.registry.deltas import (
    MAX_CHAIN,
    REMOVED,
    chain_of,
    delta_rows,
    state_rows,
    stored_summary,
)
from glocal.registry.demotions import insert_demotions, select_active_demotions
from glocal.registry.engine import (
    WRITE,
    create_registry_engine,
    ensure_schema,
    safe_url,
    unavailable,
)
from glocal.registry.export import export_payload
from glocal.registry.placement import discard_bundle_at, locate_bundle
from glocal.registry.records import (
    ENTITY_MODEL_COLUMNS,
    GlobalVersion,
    RunRecord,
    entity_models_frame,
)
from glocal.registry.rows import (
    check_entity_frame,
    entity_columns,
    from_db_time,
    insert_columns,
    rows_frame,
)
from glocal.registry.schema import (
    SCHEMA_VERSION,
    aliases,
    global_models,
    runs,
)
from glocal.registry.schema import entity_models as entity_table

__all__ = ["PRODUCTION", "Registry"]

PRODUCTION = "production"
"""The alias ``glocal predict`` serves."""

_RECENT_RUNS = 5
_RUN_COLUMNS = (
    "run_id",
    "created_at",
    "status",
    "data_version",
    "config_hash",
    "code_version",
    "bundle_path",
    "metrics",
    "global_version_id",
    "parent_run_id",
    "summary",
)
_CARD_COLUMNS = [c for c in ENTITY_MODEL_COLUMNS if c != "entity_id"]


def _now() -> dt.datetime:
    return clock.now()


def _summary(entity_frame: pd.DataFrame, given: Mapping[str, Any]) -> dict[str, Any]:
    counts = entity_frame["decision"].astype(str).value_counts()
    automatic: dict[str, Any] = {
        "entities": len(entity_frame),
        "decisions": {str(k): int(v) for k, v in counts.items()},
        "carried_forward": int(entity_frame["carried_forward"].astype(bool).sum()),
    }
    return {**automatic, **given}


class Registry:
    """The model registry of one workspace (SQLite) or one shared database (PostgreSQL).

    Open it with :meth:`open`; use it as a context manager to release connections.
    """

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    def __init__(self, engine: Engine, workspace: Workspace) -> None:
        self._engine = engine
        self._workspace = workspace
        self._chains: dict[str, list[str]] = {}

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | None, workspace: Workspace) -> Registry:
        """Connect to the registry at ``url`` (``None``: ``models/registry.db``).

        Creates the tables on first use.

        Raises:
            RegistryUnavailableError: The database cannot be reached; nothing was written.
            SchemaVersionError: The registry was written by a glocal with another schema.
            RegistryError: ``url`` is malformed.

        """
        engine = create_registry_engine(url, workspace)
        try:
            ensure_schema(engine)
        except DBAPIError as exc:
            engine.dispose()
            raise RegistryError(
                f"cannot prepare the registry at {safe_url(engine.url)}: {exc.orig}"
            ) from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, workspace)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return safe_url(self._engine.url)

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as connection:
                connection.execution_options(**WRITE)
                with connection.begin():
                    yield connection
        except OperationalError as exc:  # the server went away, the file is locked, ...
            raise unavailable(self._engine.url, exc) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as connection:
                yield connection
        except OperationalError as exc:
            raise unavailable(self._engine.url, exc) from exc

    # -- lookups -------------------------------------------------------------------------
    def _unknown_run(self, connection: Connection, run_id: str) -> RegistryLookupError:
        recent = connection.execute(
            select(runs.c.run_id).order_by(runs.c.created_at.desc()).limit(_RECENT_RUNS)
        ).scalars()
        names = ", ".join(recent)
        if not names:
            return RegistryLookupError(
                f"run {run_id!r} is not recorded: the registry has no runs yet. "
                "Run `glocal run` first."
            )
        return RegistryLookupError(
            f"run {run_id!r} is not recorded in the registry; recent runs: {names}. "
            "See `glocal registry list` for all of them."
        )

    def _chain(self, connection: Connection, run_id: str) -> list[str]:
        """Return the runs ``run_id``'s state is read from (runs are immutable: cached)."""
        if run_id not in self._chains:
            self._chains[run_id] = chain_of(connection, run_id)
        return self._chains[run_id]

    def _require_run(self, connection: Connection, run_id: str) -> None:
        found = connection.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
        if found is None:
            raise self._unknown_run(connection, run_id)

    def alias(self, name: str = PRODUCTION) -> str | None:
        """Return the run id ``name`` points to, or None."""
        with self._read() as connection:
            return connection.execute(
                select(aliases.c.run_id).where(aliases.c.name == name)
            ).scalar()

    def run(self, run_id: str) -> RunRecord:
        """Return the record of ``run_id``.

        Raises:
            RegistryLookupError: Unknown run id (the message lists recent ones).

        """
        with self._read() as connection:
            row = connection.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
            if row is None:
                raise self._unknown_run(connection, run_id)
        values = dict(row)
        values["created_at"] = from_db_time(values["created_at"])
        return RunRecord(**values)

    def resolve_bundle(self, run_id: str) -> Path:
        """Return the absolute bundle directory of ``run_id``.

        A bundle kept in the object store is downloaded into the workspace first (its
        checksums are checked by whoever loads it, :func:`verify_bundle`).
        """
        return locate_bundle(self._workspace, run_id, self.run(run_id).bundle_path)

    def list_runs(self) -> pd.DataFrame:
        """Return every run, newest first, with an ``aliases`` column ("production", ...)."""
        with self._read() as connection:
            rows = connection.execute(
                select(*(runs.c[c] for c in _RUN_COLUMNS)).order_by(
                    runs.c.created_at.desc(), runs.c.run_id.desc()
                )
            ).all()
            pointers = connection.execute(select(aliases.c.name, aliases.c.run_id)).all()
        frame = rows_frame(rows, _RUN_COLUMNS)
        names: dict[str, list[str]] = {}
        for name, run_id in sorted(pointers):
            names.setdefault(run_id, []).append(name)
        frame["aliases"] = [",".join(names.get(r, [])) for r in frame["run_id"]]
        return frame

    def entity_models(self, run_id: str) -> pd.DataFrame:
        """Return the per-entity rows of ``run_id`` (ENTITY_MODEL_COLUMNS plus run_id).

        Every entity of the run, also those it inherited unchanged from its base run
        (:mod:`~glocal.registry.deltas`): their ``run_id`` is the run that stored the row
        and ``carried_forward`` is true.
        """
        with self._read() as connection:
            self._require_run(connection, run_id)
            frame = state_rows(
                connection, run_id, ENTITY_MODEL_COLUMNS, chain=self._chain(connection, run_id)
            )
        return frame.assign(run_id=run_id).loc[:, ["run_id", *ENTITY_MODEL_COLUMNS]]

    def model_card(self, entity_id: str) -> dict[str, Any]:
        """Return an entity's current decision under ``production`` and its history.

        Returns:
            ``entity_id``, ``production_run_id``, ``current`` (the row of the production
            run, or None), ``latest`` (the row of the newest run) and ``history`` (one row
            per run, oldest first); times are ISO 8601 strings in UTC.

        Raises:
            RegistryLookupError: The entity is in no recorded run.

        """
        entity = str(entity_id)
        columns = [entity_table.c[c] for c in ["run_id", *_CARD_COLUMNS]]
        with self._read() as connection:
            production = connection.execute(
                select(aliases.c.run_id).where(aliases.c.name == PRODUCTION)
            ).scalar()
            rows = (
                connection.execute(
                    select(*columns, runs.c.created_at.label("run_created_at"))
                    .join(runs, runs.c.run_id == entity_table.c.run_id)
                    .where(entity_table.c.entity_id == entity)
                    .order_by(runs.c.created_at, runs.c.run_id)
                )
                .mappings()
                .all()
            )
            chain = [] if production is None else self._chain(connection, production)
        history = []
        for row in rows:
            record = dict(row)
            for key in ("trained_at", "run_created_at"):
                moment = from_db_time(record[key])
                record[key] = None if moment is None else moment.isoformat()
            history.append(record)
        # the production run's row, or the row it inherited from the nearest run before it
        rank = {run_id: i for i, run_id in enumerate(chain)}
        in_chain = [h for h in history if h["run_id"] in rank]
        nearest = min(in_chain, key=lambda h: rank[h["run_id"]], default=None)
        current = None if nearest is None or nearest["decision"] == REMOVED else nearest
        if current is not None and current["run_id"] != production:
            current = {**current, "run_id": production, "carried_forward": True}
        history = [h for h in history if h["decision"] != REMOVED]
        if not history:
            raise RegistryLookupError(
                f"entity {entity!r} is in no recorded run. Check the id (ids are stored as "
                "text, exactly as in the data) or record a run that includes it."
            )
        return {
            "entity_id": entity,
            "production_run_id": production,
            "current": current,
            "latest": history[-1],
            "history": history,
        }

    def active_demotions(self, at: dt.datetime | None = None) -> pd.DataFrame:
        """Return the demotions in force at ``at`` (default: now), one row per entity.

        Columns: :data:`glocal.registry.demotions.DEMOTION_COLUMNS`.
        """
        moment = (at or _now()).astimezone(dt.UTC)
        with self._read() as connection:
            return select_active_demotions(connection, moment)

    # -- writes --------------------------------------------------------------------------
    def record_demotions(self, frame: pd.DataFrame) -> int:
        """Record demotions (columns ``DEMOTION_COLUMNS``) in one transaction; return how many.

        Raises:
            RegistryError: A column is missing or an entity is named twice.

        """
        with self._write() as connection:
            return insert_demotions(connection, frame)

    def record_run(
        self,
        run: RunRecord,
        global_version: GlobalVersion | None,
        entity_models: pd.DataFrame,
    ) -> None:
        """Record a run, its global model version and its per-entity rows in ONE transaction.

        A ``global_version`` already recorded (carried forward from an earlier run) is not
        inserted again. ``entity_models`` holds every entity of the run; when its parent
        run is recorded, only the entities that changed against the parent's state are
        stored (:mod:`~glocal.registry.deltas`), and :meth:`entity_models` gives the
        full frame back.

        Raises:
            RegistryError: The run id is recorded already, or the entity rows are invalid.

        """
        check_entity_frame(entity_models)  # the values: of the rows stored, below
        values = {c: getattr(run, c) for c in _RUN_COLUMNS}
        values["summary"] = _summary(entity_models, run.summary)
        try:
            with self._write() as connection:
                exists = connection.execute(
                    select(runs.c.run_id).where(runs.c.run_id == run.run_id)
                ).first()
                if exists is not None:
                    raise RegistryError(
                        f"run {run.run_id!r} is recorded already; runs are immutable. "
                        "Record the new run under a new run id."
                    )
                stored, base, depth = self._rows_to_store(connection, run, entity_models)
                columns = entity_columns(stored, run.run_id)
                values["summary"]["entity_rows"] = stored_summary(base, len(stored), depth)
                connection.execute(runs.insert(), values)
                if global_version is not None:
                    known = connection.execute(
                        select(func.count())
                        .select_from(global_models)
                        .where(global_models.c.version_id == global_version.version_id)
                    ).scalar()
                    if not known:
                        connection.execute(global_models.insert(), vars(global_version))
                insert_columns(connection, entity_table, columns)
        except IntegrityError as exc:
            raise RegistryError(
                f"cannot record run {run.run_id!r}: {exc.orig}. Nothing was recorded."
            ) from exc

    @staticmethod
    def _rows_to_store(
        connection: Connection, run: RunRecord, entity_models: pd.DataFrame
    ) -> tuple[pd.DataFrame, str | None, int]:
        """Return the rows ``run`` stores, its base run and its chain depth."""
        parent = run.parent_run_id
        if parent is None:
            return entity_models, None, 0
        known = connection.execute(select(runs.c.run_id).where(runs.c.run_id == parent)).first()
        if known is None:
            return entity_models, None, 0
        chain = chain_of(connection, parent)  # not cached: inside the write transaction
        depth = len(chain)
        if depth >= MAX_CHAIN or not entity_models["carried_forward"].to_numpy(bool).any():
            return entity_models, None, 0  # a checkpoint, or every entity retrained
        previous = state_rows(connection, parent, ENTITY_MODEL_COLUMNS, chain=chain)
        rows, everything = delta_rows(previous, entity_models, run.created_at)
        return (rows, None, 0) if everything else (rows, parent, depth)

    def record_bundle(
        self,
        path: str | Path,
        entity_models: pd.DataFrame | None = None,
        *,
        summary: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Verify a bundle and record its run, global model and entity rows.

        Args:
            path: The bundle directory (from :func:`write_bundle`).
            entity_models: Per-entity rows; ``None`` builds them from the bundle's
                decisions table (trained at the run's time, none carried forward).
            summary: Extra JSON summary of the run.

        Returns:
            The :class:`RunRecord` as stored (its summary includes the decision counts).

        """
        manifest = verify_bundle(path)
        run = RunRecord.from_manifest(manifest, path, self._workspace, summary=summary)
        version = GlobalVersion.from_manifest(manifest)
        if entity_models is None:
            from glocal.models.persistence import read_saved_decisions

            decisions = read_saved_decisions(path)
            entity_models = entity_models_frame(
                decisions, trained_at=run.created_at, global_version_id=version.version_id
            )
        self.record_run(run, version, entity_models)
        return self.run(run.run_id)

    def promote(self, run_id: str, alias: str = PRODUCTION, *, verify: bool = True) -> str | None:
        """Point ``alias`` at ``run_id`` atomically; return the run it pointed to before.

        Args:
            run_id: The run to serve.
            alias: The alias to move.
            verify: Re-hash the run's bundle first (a tampered or missing bundle is refused).

        Raises:
            RegistryLookupError: Unknown run id (the message lists recent ones).
            RegistryError: The run's bundle was pruned.
            BundleError: The bundle is missing or does not match its checksums.

        """
        if verify:
            with self._read() as connection:
                if not check_servable(connection, run_id, alias):  # a pruned run: say so
                    raise self._unknown_run(connection, run_id)
            verify_bundle(self.resolve_bundle(run_id))
        with self._write() as connection:
            locked = lock_alias(connection, alias)  # first: prune takes this lock too
            current = locked[0] if locked is not None else None
            if not check_servable(connection, run_id, alias):
                raise self._unknown_run(connection, run_id)
            if current == run_id:
                return run_id
            move_alias(connection, alias, run_id, previous=current, action="promote")
        return current

    def rollback(self, alias: str = PRODUCTION, *, verify: bool = True) -> str:
        """Point ``alias`` back at the run it pointed to before; return that run id.

        Repeated rollbacks walk further back through the promotions.

        Args:
            alias: The alias to move back.
            verify: Re-hash the earlier run's bundle first.

        Raises:
            RegistryLookupError: ``alias`` points to no run.
            RegistryError: There is no earlier run to go back to, or its bundle was pruned.
            BundleError: The earlier run's bundle is missing or does not match.

        """
        with self._write() as connection:
            row = lock_alias(connection, alias)
            if row is None:
                raise RegistryLookupError(
                    f"alias {alias!r} points to no run, so there is nothing to roll back. "
                    "Promote a run with `glocal registry promote RUN`."
                )
            current, target = row
            if target is None:
                raise RegistryError(
                    f"alias {alias!r} points to run {current!r}, the first run it was given; "
                    "there is no earlier run to roll back to."
                )
            check_servable(connection, target, alias)
            if verify:
                verify_bundle(self.resolve_bundle(target))
            # the alias' state when it last moved to `target`: its previous run then
            earlier = run_before(connection, alias, target)
            move_alias(connection, alias, target, previous=earlier, action="rollback")
        return str(target)

    def prune_bundles(self, keep: int, *, dry_run: bool = False) -> list[str]:
        """Delete the bundles of all but the newest ``keep`` runs; return their run ids.

        Runs an alias points to, and the runs a rollback would go back to, are always
        kept. Pruned runs keep their records (entity rows, metrics, history) with status
        ``pruned``, and cannot be promoted again. The status changes in one transaction
        before any file is deleted, so a prune killed half-way leaves nothing servable
        without its bundle; the next prune finishes it.

        Args:
            keep: How many of the newest runs keep their bundles (at least 1).
            dry_run: Only report what would be pruned.

        Raises:
            RegistryError: ``keep`` is smaller than 1.

        """
        if keep < 1:
            raise RegistryError(f"keep={keep}: at least the newest run must keep its bundle.")
        with self._write() as connection:
            old = prune_candidates(connection, keep)
            doomed = [row.run_id for row in old if row.status != PRUNED]
            if doomed and not dry_run:
                connection.execute(
                    runs.update().where(runs.c.run_id.in_(doomed)).values(status=PRUNED)
                )
        if not dry_run:
            for row in old:  # also finishes the deletions of an earlier, killed prune
                discard_bundle_at(self._workspace, row.bundle_path)
        return doomed

    def export_json(self, path: str | Path | None = None) -> Path:
        """Write every entity's model summary of the production run as JSON.

        Uses the newest run when no run is promoted. The file (default
        ``models/registry.json``) is written atomically.

        Raises:
            RegistryLookupError: No run is recorded.

        """
        target = Path(path) if path is not None else self._workspace.models_dir / "registry.json"
        production = self.alias(PRODUCTION)
        run_id = production
        if run_id is None:
            with self._read() as connection:
                run_id = connection.execute(
                    select(runs.c.run_id).order_by(runs.c.created_at.desc()).limit(1)
                ).scalar()
        if run_id is None:
            raise RegistryLookupError(
                "the registry has no runs to export yet; run `glocal run` first."
            )
        payload = export_payload(
            self.entity_models(run_id), run_id, PRODUCTION if production else None, _now()
        )
        write_json_atomic(target, payload)
        return target
