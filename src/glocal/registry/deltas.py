"""Per-entity rows that grow with what changed: a run stores only its changed entities.

A run whose parent run is recorded stores an ``entity_models`` row only for the entities
whose row differs from the parent's state (any column; a freshly trained entity always
counts as changed), plus a *tombstone* (decision ``removed``) for each entity the parent
had and the run has not. Every other entity inherits the parent's row, marked
``carried_forward``. The run's ``summary["entity_rows"]`` records its ``base_run_id``
(``None``: the run stores every entity) and its chain ``depth``.

A run's full state is rebuilt from its chain: its own rows, then its base's, and so on to
a run that stores every entity; each entity takes the nearest row. A chain never grows
beyond :data:`MAX_CHAIN`: the run after that stores every entity again, as does a run in
which every entity changed (a full refit). So a daily run in which 1% of a million
entities changed adds about 10,000 rows, not a million, and reading any run's state reads
at most :data:`MAX_CHAIN` runs' rows.

Registries written before this stored every entity in every run: those runs have no
``entity_rows`` key and are read as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from glocal.registry.records import ENTITY_MODEL_COLUMNS
from glocal.registry.rows import rows_frame
from glocal.registry.schema import entity_models as entity_table
from glocal.registry.schema import runs

__all__ = ["MAX_CHAIN", "REMOVED", "chain_of", "delta_rows", "state_rows", "stored_summary"]

MAX_CHAIN = 30
"""Most runs a state is rebuilt from; the run after stores every entity again."""

REMOVED = "removed"
"""The decision of a tombstone: the entity is not in this run (it was in its base)."""

_COMPARED = [c for c in ENTITY_MODEL_COLUMNS if c not in ("entity_id", "carried_forward")]


def _rows_info(summary: Any) -> dict[str, Any] | None:
    if not isinstance(summary, dict):
        return None
    info = summary.get("entity_rows")
    return info if isinstance(info, dict) else None


def chain_of(connection: Connection, run_id: str) -> list[str]:
    """Return ``run_id`` and the runs its state inherits from, nearest first."""
    chain = [run_id]
    current = run_id
    while len(chain) <= MAX_CHAIN:
        summary = connection.execute(
            select(runs.c.summary).where(runs.c.run_id == current)
        ).scalar()
        info = _rows_info(summary)
        base = None if info is None else info.get("base_run_id")
        if not base:
            break
        chain.append(str(base))
        current = str(base)
    return chain


def state_rows(
    connection: Connection,
    run_id: str,
    columns: Sequence[str],
    entity: str | None = None,
    chain: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return the full per-entity state of ``run_id`` (``columns``; one entity or all).

    Inherited rows carry ``run_id`` of the run that stored them and ``carried_forward``
    true. Sorted by entity id. ``chain``: the run's :func:`chain_of`, if known.
    """
    chain = list(chain) if chain is not None else chain_of(connection, run_id)
    wanted = list(dict.fromkeys(["run_id", "entity_id", *columns]))
    query = select(*(entity_table.c[c] for c in wanted)).where(entity_table.c.run_id.in_(chain))
    if entity is not None:
        query = query.where(entity_table.c.entity_id == entity)
    frame = rows_frame(connection.execute(query).all(), wanted)
    if len(chain) > 1 and len(frame):
        position = frame["run_id"].map({r: i for i, r in enumerate(chain)})
        frame = frame.iloc[np.argsort(position.to_numpy(), kind="stable")]
        frame = frame.drop_duplicates("entity_id", keep="first")
        frame = frame.loc[frame["decision"] != REMOVED]
        if "carried_forward" in frame:
            inherited = (frame["run_id"] != run_id).to_numpy()
            frame["carried_forward"] = frame["carried_forward"].astype(bool) | inherited
    frame = frame.sort_values("entity_id", kind="stable").reset_index(drop=True)
    return frame.loc[:, list(dict.fromkeys(["run_id", *columns]))]


def _same(old: pd.Series, new: pd.Series) -> np.ndarray:
    if old.name == "trained_at":
        a = pd.to_datetime(old, utc=True).to_numpy()
        b = pd.to_datetime(new, utc=True).to_numpy()
        return np.asarray(a == b)
    if old.name in ("weight", "val_mse_global", "val_mse_local"):
        # the registry stores a non-finite value as NULL: it reads back as NaN
        a = old.to_numpy(dtype=np.float64, na_value=np.nan)
        b = new.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray((a == b) | (~np.isfinite(a) & ~np.isfinite(b)))
    missing = old.isna().to_numpy() & new.isna().to_numpy()
    equal = old.astype(object).astype(str).to_numpy() == new.astype(object).astype(str).to_numpy()
    return np.asarray(missing | (equal & ~old.isna().to_numpy() & ~new.isna().to_numpy()))


def delta_rows(
    previous: pd.DataFrame, frame: pd.DataFrame, created_at: dt.datetime
) -> tuple[pd.DataFrame, bool]:
    """Return the rows a run stores against its parent's state, and whether that is all.

    Args:
        previous: The parent's full state (:func:`state_rows`).
        frame: The run's full per-entity rows (``ENTITY_MODEL_COLUMNS``).
        created_at: The run's time (the tombstones' ``trained_at``).

    Returns:
        The changed rows plus tombstones, and ``True`` when every entity of ``frame``
        changed (then the rows are ``frame`` itself and the run needs no base).

    """
    ids = frame["entity_id"].astype(str).to_numpy(dtype=object)
    old_ids = previous["entity_id"].astype(str).to_numpy(dtype=object)
    # pandas' Index lookups: isin on Arrow-backed strings loops in Python
    position = pd.Index(old_ids).get_indexer(ids)
    unchanged = (position >= 0) & frame["carried_forward"].to_numpy(dtype=bool)
    if unchanged.any():
        positions = np.flatnonzero(unchanged)
        aligned = previous.iloc[position[positions]].reset_index(drop=True)
        part = frame.iloc[positions].reset_index(drop=True)
        same = np.ones(len(positions), dtype=bool)
        for column in _COMPARED:
            same &= _same(aligned[column], part[column])
        unchanged[positions[~same]] = False
    gone = pd.Index(old_ids[pd.Index(ids).get_indexer(old_ids) < 0])
    if not unchanged.any() and len(gone) == 0:
        return frame, True
    stored = frame.loc[~unchanged]
    tombstones = pd.DataFrame(
        {
            "entity_id": gone.to_numpy(dtype=object),
            "decision": REMOVED,
            "candidate": None,
            "weight": 0.0,
            "reason": "REMOVED",
            "n_train": 0,
            "n_val": 0,
            "val_mse_global": np.nan,
            "val_mse_local": np.nan,
            "trained_at": pd.Timestamp(created_at),
            "global_version_id": None,
            "carried_forward": False,
        }
    )
    rows = pd.concat([stored, tombstones], ignore_index=True) if len(gone) else stored
    return rows.loc[:, list(ENTITY_MODEL_COLUMNS)].reset_index(drop=True), False


def stored_summary(base_run_id: str | None, stored: int, depth: int) -> dict[str, Any]:
    """Return the ``summary["entity_rows"]`` entry of a run."""
    return {"base_run_id": base_run_id, "stored": int(stored), "depth": int(depth)}
