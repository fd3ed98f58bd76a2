"""Point-in-time panels and latest snapshots built from cleaned transactions.

Definitions (``docs/features.md`` is the long form):

* The *end of the data* is the day after the date of the last transaction: every day
  before it is complete.
* Cutoffs are midnights ``cutoff_anchor + k * cutoff_every_days``. An entity gets a row at
  every cutoff after the date of its first purchase (a non-cancellation line).
* Features use only transactions strictly before the cutoff's midnight.
* The target is net spend in ``[cutoff, cutoff + horizon_days)``; NaN when that window
  runs past the end of the data.

How: DuckDB aggregates the transactions to per-(entity, day) running totals
(:mod:`~glocal.features.transactions_sql`); the (entity, cutoff) grid is built with
``numpy.repeat`` and every feature is a difference of running totals looked up by binary
search (:mod:`~glocal.features.running_totals`). Nothing loops over cutoffs or entities.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from glocal.config.features import FeatureSettings
from glocal.core.errors import DataValidationError
from glocal.core.logging import get_logger
from glocal.features.cutoffs import CutoffRange, entity_cutoff_grid, resolve_cutoff_range
from glocal.features.running_totals import RunningTotals, running_by_entity
from glocal.features.schema import CUTOFF, CUTOFF_DTYPE, ENTITY, finalize_panel
from glocal.features.snapshot_features import snapshot_features
from glocal.features.transactions_input import prepare_transactions
from glocal.features.transactions_sql import MEASURES, history_sql

__all__ = ["add_calendar", "build_latest_snapshot", "build_panel", "build_panel_and_latest"]

_log = get_logger(__name__)

_CARRIED = ("last_purchase", "country")
"""Per-day columns whose running value is the last one seen (they only move forward)."""


def add_calendar(panel: pd.DataFrame) -> pd.DataFrame:
    """Add the calendar features of each row's cutoff (month, ISO week, day of year)."""
    cutoff = panel[CUTOFF].dt
    panel["cutoff_month"] = cutoff.month.astype("float64")
    panel["cutoff_week_of_year"] = cutoff.isocalendar().week.astype("float64").to_numpy()
    panel["cutoff_day_of_year"] = cutoff.day_of_year.astype("float64")
    return panel


@dataclass(frozen=True)
class _History:
    """Per-(entity, day) running totals of the transactions, and each entity's first purchase."""

    codes: np.ndarray
    first_days: np.ndarray
    totals: RunningTotals


def _history(lines: pd.DataFrame, settings: FeatureSettings) -> _History:
    """Aggregate the transaction lines once, with DuckDB; every snapshot reads from it."""
    with duckdb.connect() as con:
        con.register("tx_frame", lines)
        con.execute(history_sql(settings))
        days = con.sql("SELECT * FROM history ORDER BY entity_id, day").df()
        firsts = con.sql("SELECT entity_id, first_purchase FROM entities ORDER BY entity_id").df()
    entity = days["entity_id"].to_numpy()
    columns = {"entity_id": entity, "day": days["day"].to_numpy()}
    columns |= running_by_entity(
        entity,
        {column: days[column].to_numpy() for column in (*MEASURES, *_CARRIED)},
        summed=MEASURES,
        carried=_CARRIED,
    )
    return _History(
        codes=firsts["entity_id"].to_numpy(dtype=np.int64),
        first_days=firsts["first_purchase"].to_numpy(dtype=np.int64),
        totals=RunningTotals(columns),
    )


def _snapshots(
    history: _History,
    lines: pd.DataFrame,
    entities: pd.Index,
    settings: FeatureSettings,
    cutoffs: CutoffRange,
    with_country: bool,
) -> pd.DataFrame:
    """Compute the snapshot rows of every entity at every cutoff of ``cutoffs``."""
    row, cutoff = entity_cutoff_grid(history.first_days, cutoffs.days())
    codes = history.codes[row]
    columns = snapshot_features(
        history.totals, codes, cutoff, history.first_days[row], settings, cutoffs.end_day
    )
    panel = pd.DataFrame(
        {
            ENTITY: entities[codes],
            CUTOFF: cutoff.astype("datetime64[D]").astype(CUTOFF_DTYPE),
            **columns,
        }
    )
    if with_country:
        countries = sorted(lines["country"].dropna().unique())
        panel["country"] = pd.Categorical(panel["country"], categories=countries)
    else:
        panel = panel.drop(columns="country")
    return finalize_panel(add_calendar(panel))


def _data_span(lines: pd.DataFrame) -> tuple[int, int]:
    """Return the day numbers of the first purchase and of the last transaction."""
    purchases = lines.loc[~lines["is_cancellation"], "day"]
    if purchases.empty:
        raise DataValidationError(
            "the transactions hold no purchase (every line is a cancellation), so no entity "
            "has a first purchase to start its snapshots from."
        )
    return int(purchases.min()), int(lines["day"].max())


def build_panel(transactions: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Return the point-in-time panel: one row per entity and cutoff after its first purchase.

    Args:
        transactions: cleaned transactions (``entity_id``, ``invoice``, ``stock_code``,
            ``quantity``, ``amount``, ``timestamp``, ``is_cancellation``, ``country``).
        settings: cutoff spacing and anchor, horizon, windows and optional cutoff bounds.

    Returns:
        The panel contract: ``entity_id``, ``cutoff``, ``target``, then the features,
        sorted by (``entity_id``, ``cutoff``). ``target`` is NaN where the horizon runs
        past the end of the data.

    Raises:
        DataValidationError: if a required column is missing or malformed.
        ConfigError: if ``first_cutoff``/``last_cutoff`` lie outside the data.

    Examples:
        >>> tx = pd.DataFrame({
        ...     "entity_id": "a", "invoice": ["1", "2", "3"], "stock_code": "x",
        ...     "quantity": 1, "amount": [10.0, 4.0, 5.0], "country": "UK",
        ...     "timestamp": pd.to_datetime(["2011-01-04", "2011-01-12", "2011-01-20"]),
        ...     "is_cancellation": False})
        >>> panel = build_panel(tx, FeatureSettings(horizon_days=7))
        >>> print(panel[["cutoff", "target", "monetary_7d"]].to_string(index=False))
            cutoff  target  monetary_7d
        2011-01-10     4.0         10.0
        2011-01-17     NaN          4.0

    """
    panel, _ = build_panel_and_latest(transactions, settings, latest=False)
    return panel


def build_latest_snapshot(transactions: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Return one row per entity at the latest cutoff, for batch scoring and lookups.

    The latest cutoff is the last anchored cutoff on or before the end of the data (the day
    after the last transaction); ``first_cutoff``/``last_cutoff`` do not apply. Features are
    defined exactly as in :func:`build_panel`; ``target`` is NaN unless the horizon fits.
    """
    _, latest = build_panel_and_latest(transactions, settings, panel=False)
    return latest


def build_panel_and_latest(
    transactions: pd.DataFrame,
    settings: FeatureSettings,
    *,
    panel: bool = True,
    latest: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return :func:`build_panel` and :func:`build_latest_snapshot` of ``transactions``.

    The transactions are prepared and aggregated once for both; a frame not asked for
    (``panel=False`` or ``latest=False``) comes back empty.
    """
    lines, entities = prepare_transactions(transactions)
    first_purchase, last_day = _data_span(lines)
    with_country = "country" in transactions.columns
    cutoffs = resolve_cutoff_range(first_purchase, last_day, settings) if panel else None
    history = _history(lines, settings)
    rows, snapshot = pd.DataFrame(), pd.DataFrame()
    if cutoffs is not None:
        rows = _snapshots(history, lines, entities, settings, cutoffs, with_country)
        _log.info(
            "built a panel of %d rows, %d entities, cutoffs %s to %s every %d days",
            len(rows),
            rows["entity_id"].nunique(),
            cutoffs.days()[0].astype("datetime64[D]"),
            cutoffs.days()[-1].astype("datetime64[D]"),
            cutoffs.every,
        )
    if latest:
        full = resolve_cutoff_range(
            first_purchase,
            last_day,
            settings.model_copy(update={"first_cutoff": None, "last_cutoff": None}),
        )
        last = CutoffRange(first=full.last, last=full.last, every=full.every, end_day=full.end_day)
        snapshot = _snapshots(history, lines, entities, settings, last, with_country)
    return rows, snapshot
