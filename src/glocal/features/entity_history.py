"""The per-(entity, day) history a transaction panel is computed from, kept for the next one.

Every feature of a transaction panel is a difference of per-entity running totals over the
table ``history`` (:mod:`glocal.features.transactions_sql`): one row per entity and day
with activity. An entity's rows depend on its own transactions only. So when a new data
version changes the lines of a few entities, the next panel needs the SQL over those
entities' lines alone, and takes every other entity's rows from the table kept beside the
last panel (:func:`history_path`). The snapshots are then computed from the whole table,
exactly as in a full build, so the panel is the same frame, value for value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from glocal.config.features import FeatureSettings
from glocal.core.atomic import atomic_path
from glocal.core.errors import DataFileError
from glocal.core.hashing import hash_json
from glocal.features.running_totals import RunningTotals, running_by_entity
from glocal.features.transactions_sql import MEASURES, history_sql

__all__ = [
    "EntityHistory",
    "KeptHistory",
    "PreviousHistory",
    "history_entities",
    "history_path",
    "history_table",
    "kept_history_table",
    "read_history",
    "updated_history",
    "write_history",
    "write_history_table",
]

_HISTORY_PREFIX = "history-"

CARRIED = ("last_purchase", "country")
"""Per-day columns whose running value is the last one seen (they only move forward)."""

_COLUMNS = ("entity_id", "day", *MEASURES, *CARRIED)


def _as_categorical(ids: pd.Series) -> pd.Categorical:
    """Return entity ids as a Categorical of text ids (each id's text stored once).

    Lookups by id (``isin``, positions among the transactions' entities) then work on the
    few distinct ids instead of one string per history row.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype):
        categories = pd.Index(ids.cat.categories.astype(str), dtype=object)
        return pd.Categorical.from_codes(ids.cat.codes.to_numpy(), categories=categories)
    codes, uniques = pd.factorize(ids.astype(str).to_numpy(dtype=object))
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def history_entities(table: pd.DataFrame) -> pd.Index:
    """Return the ids of the entities that have rows in a history ``table``."""
    ids = table["entity_id"]
    observed = np.unique(ids.cat.codes.to_numpy())
    present: pd.Index = ids.cat.categories[observed[observed >= 0]]
    return present


def _normalized(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with the same dtypes whether it came from DuckDB or from Parquet."""
    country = np.array(table["country"].to_numpy(dtype=object), dtype=object)  # writable
    country[pd.isna(country)] = None
    return pd.DataFrame(
        {
            "entity_id": _as_categorical(table["entity_id"]),
            "day": table["day"].to_numpy(dtype=np.int64),
            **{name: table[name].to_numpy(dtype=np.int64) for name in MEASURES},
            "last_purchase": table["last_purchase"].to_numpy(dtype=np.float64),
            "country": country,
        }
    )


def history_table(
    lines: pd.DataFrame, entities: pd.Index, settings: FeatureSettings
) -> pd.DataFrame:
    """Aggregate prepared lines to the per-(entity, day) table, keyed by entity id.

    Args:
        lines: the frame of :func:`~glocal.features.transactions_input.prepare_transactions`.
        entities: the entity ids its integer ``entity_id`` codes stand for.
        settings: the detail window the product counts use.

    """
    with duckdb.connect() as con:
        con.register("tx_frame", lines)
        con.execute(history_sql(settings))
        days = con.sql("SELECT * FROM history").df()
    codes = days["entity_id"].to_numpy(dtype=np.int64)
    categories = pd.Index(np.asarray(entities, dtype=str), dtype=object)
    days["entity_id"] = pd.Categorical.from_codes(codes, categories=categories)
    return _normalized(days)


@dataclass(frozen=True)
class KeptHistory:
    """A :func:`history_table` and the end of the data it was built from.

    ``end_day`` is the day after the last transaction (a day number): the next build
    needs it to know which targets were still open.
    """

    table: pd.DataFrame
    end_day: int


@dataclass(frozen=True)
class PreviousHistory:
    """The history kept beside an earlier panel, and the entities to compute again.

    Attributes:
        kept: the earlier history (from :func:`read_history`).
        rebuilt: entity ids whose lines changed or are new: their rows are recomputed.
            Rows of entities that no longer have transactions are dropped.
        panel: the earlier panel itself, as written, if at hand: its rows that cannot
            have changed are then copied instead of computed again.

    """

    kept: KeptHistory
    rebuilt: pd.Index
    panel: pd.DataFrame | None = None


def updated_history(
    previous: PreviousHistory, fresh: pd.DataFrame, entities: pd.Index
) -> pd.DataFrame:
    """Return the earlier table without the rebuilt and gone entities, plus ``fresh`` rows."""
    table = previous.kept.table
    ids = table["entity_id"]
    kept = ids.isin(entities).to_numpy() & ~ids.isin(previous.rebuilt).to_numpy()
    rows = pd.concat([table.loc[kept], fresh], ignore_index=True)
    merged = union_categoricals([ids.array[kept], fresh["entity_id"].array])
    rows["entity_id"] = merged
    return rows


@dataclass(frozen=True)
class EntityHistory:
    """Running totals per entity and day, and each entity's first purchase day.

    Entity ``k`` is ``entities[k]``; ``codes`` are the entities with a purchase, ascending,
    and ``first_days`` their first purchase days.
    """

    entities: pd.Index
    codes: np.ndarray
    first_days: np.ndarray
    totals: RunningTotals

    @classmethod
    def of(cls, table: pd.DataFrame, entities: pd.Index) -> EntityHistory:
        """Sort ``table`` by (entity code, day) and take its running totals.

        Raises:
            ValueError: ``table`` has an entity missing from ``entities``.

        """
        ids = table["entity_id"]
        position = pd.Index(entities).get_indexer(ids.cat.categories)
        code = np.r_[position, -1][ids.cat.codes.to_numpy()]
        if (code < 0).any():
            raise ValueError("the history has entities that the transactions do not have")
        day = table["day"].to_numpy()
        order = np.lexsort((day, code))
        code, day = code[order], day[order]
        columns: dict[str, np.ndarray] = {"entity_id": code, "day": day}
        columns |= running_by_entity(
            code,
            {name: table[name].to_numpy()[order] for name in (*MEASURES, *CARRIED)},
            summed=MEASURES,
            carried=CARRIED,
        )
        # an entity's first purchase is its first day with a purchase day counted
        bought = table["purchase_days"].to_numpy()[order] > 0
        buyer, bought_day = code[bought], day[bought]
        first = np.r_[True, buyer[1:] != buyer[:-1]] if len(buyer) else np.zeros(0, dtype=bool)
        return cls(
            entities=pd.Index(entities),
            codes=buyer[first].astype(np.int64),
            first_days=bought_day[first].astype(np.int64),
            totals=RunningTotals(columns),
        )


def history_path(directory: Path, settings: FeatureSettings) -> Path:
    """Return where the history of the transactions in ``directory`` is kept for ``settings``.

    The name holds a hash of the feature settings, so a history built with other settings
    (another detail window) is never read as this one, even after a build that died
    between writing the history and recording the panel.
    """
    key = hash_json(settings.model_dump(mode="json"))[:12]
    return directory / f"{_HISTORY_PREFIX}{key}.parquet"


_END_DAY_KEY = b"glocal.end_day"


def write_history(path: Path, kept: KeptHistory) -> None:
    """Write ``kept`` to ``path`` atomically (Parquet; the end day in its metadata)."""
    write_history_table(path, kept_history_table(kept))


def kept_history_table(kept: KeptHistory) -> pa.Table:
    """Return ``kept`` as the Arrow table :func:`write_history` writes.

    The table shares no pandas object with ``kept``: a thread may write it with
    :func:`write_history_table` while the caller goes on.
    """
    table = pa.Table.from_pandas(kept.table, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), _END_DAY_KEY: str(kept.end_day).encode()}
    return table.replace_schema_metadata(metadata)


def write_history_table(path: Path, table: pa.Table) -> None:
    """Write a table from :func:`kept_history_table` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_history(path: Path) -> KeptHistory:
    """Read a history written by :func:`write_history`.

    Raises:
        DataFileError: the file is missing, damaged or lacks a column or its end day.

    """
    try:
        table = pq.read_table(path, columns=list(_COLUMNS))
        end_day = int((table.schema.metadata or {})[_END_DAY_KEY])
        frame = table.to_pandas()
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise DataFileError(
            f"cannot read the kept history {path} ({exc!r}). Delete it: the next panel is "
            "then built from all transactions."
        ) from None
    return KeptHistory(_normalized(frame), end_day)
