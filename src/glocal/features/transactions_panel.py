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

import numpy as np
import pandas as pd

from glocal.config.features import FeatureSettings
from glocal.core.errors import DataValidationError
from glocal.core.logging import get_logger
from glocal.features.cutoffs import CutoffRange, entity_cutoff_grid, resolve_cutoff_range
from glocal.features.entity_history import (
    EntityHistory,
    KeptHistory,
    PreviousHistory,
    history_entities,
    history_table,
    updated_history,
)
from glocal.features.panel_splice import first_changed_day, spliced_panel
from glocal.features.schema import (
    CUTOFF,
    CUTOFF_DTYPE,
    ENTITY,
    calendar_features,
    finalize_panel,
)
from glocal.features.snapshot_features import snapshot_features
from glocal.features.transactions_input import (
    check_transactions,
    entity_index,
    prepare_transactions,
)

__all__ = [
    "PanelBuild",
    "add_calendar",
    "build_latest_snapshot",
    "build_panel",
    "build_panel_and_latest",
    "build_with_history",
]

_log = get_logger(__name__)


def add_calendar(panel: pd.DataFrame) -> pd.DataFrame:
    """Add the calendar features of each row's cutoff (month, ISO week, day of year)."""
    for name, values in calendar_features(panel[CUTOFF]).items():
        panel[name] = values
    return panel


def _snapshots(
    history: EntityHistory,
    settings: FeatureSettings,
    cutoffs: CutoffRange,
    countries: list[str] | None,
) -> pd.DataFrame:
    """Compute the snapshot rows of every entity at every cutoff of ``cutoffs``."""
    row, cutoff = entity_cutoff_grid(history.first_days, cutoffs.days())
    codes = history.codes[row]
    columns = snapshot_features(
        history.totals, codes, cutoff, history.first_days[row], settings, cutoffs.end_day
    )
    panel = pd.DataFrame(
        {
            ENTITY: history.entities[codes],
            CUTOFF: cutoff.astype("datetime64[D]").astype(CUTOFF_DTYPE),
            **columns,
        }
    )
    if countries is not None:
        panel["country"] = pd.Categorical(panel["country"], categories=countries)
    else:
        panel = panel.drop(columns="country")
    return finalize_panel(add_calendar(panel))


def _data_span(history: EntityHistory, transactions: pd.DataFrame) -> tuple[int, int]:
    """Return the day numbers of the first purchase and of the last transaction."""
    if not len(history.first_days):
        raise DataValidationError(
            "the transactions hold no purchase (every line is a cancellation), so no entity "
            "has a first purchase to start its snapshots from."
        )
    last = transactions["timestamp"].max().to_datetime64().astype("datetime64[D]")
    return int(history.first_days.min()), int(last.astype(np.int64))


def _countries(transactions: pd.DataFrame) -> list[str] | None:
    """Return the categories of the ``country`` feature: every country of the lines."""
    if "country" not in transactions.columns:
        return None
    return sorted(transactions["country"].astype(str).dropna().unique())


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
    built = build_with_history(transactions, settings, panel=panel, latest=latest)
    return built.panel, built.latest


@dataclass(frozen=True)
class PanelBuild:
    """A panel, its latest snapshot and the per-(entity, day) history they came from."""

    panel: pd.DataFrame
    latest: pd.DataFrame
    history: KeptHistory
    """The :func:`~glocal.features.entity_history.history_table` of every entity and the
    end of the data: kept beside the panel, it lets the next build recompute only the
    entities that changed."""


def _history_of(
    transactions: pd.DataFrame, settings: FeatureSettings, previous: PreviousHistory | None
) -> tuple[pd.DataFrame, pd.Index]:
    """Return the history table of every entity and the entity ids in order of appearance."""
    if previous is None:
        lines, entities = prepare_transactions(transactions)  # one factorize for both
        return history_table(lines, entities, settings), entities
    check_transactions(transactions)
    entities = entity_index(transactions)
    rebuilt = transactions["entity_id"].astype(str).isin(previous.rebuilt).to_numpy()
    fresh = previous.kept.table.iloc[:0]
    if rebuilt.any():
        lines, rebuilt_entities = prepare_transactions(transactions.loc[rebuilt])
        fresh = history_table(lines, rebuilt_entities, settings)
    return updated_history(previous, fresh, entities), entities


def build_with_history(
    transactions: pd.DataFrame,
    settings: FeatureSettings,
    previous: PreviousHistory | None = None,
    *,
    panel: bool = True,
    latest: bool = True,
) -> PanelBuild:
    """Build the panel and latest snapshot of ``transactions``, and return their history.

    Args:
        transactions: cleaned transactions, as for :func:`build_panel`.
        settings: the feature settings.
        previous: the history kept beside an earlier panel built with the same settings,
            and the entities whose lines changed since. Only their lines are aggregated;
            every other entity's history is taken from ``previous``. The result is the
            same as without it, provided ``previous.rebuilt`` holds every entity whose
            lines differ (:func:`glocal.data.digests.changed_entities`).
        panel: build the panel (else it comes back empty).
        latest: build the latest snapshot (else it comes back empty).

    Raises:
        DataValidationError: a required column is missing or malformed, or no line is
            a purchase.
        ConfigError: ``first_cutoff``/``last_cutoff`` lie outside the data.

    """
    table, entities = _history_of(transactions, settings, previous)
    history = EntityHistory.of(table, entities)
    first_purchase, last_day = _data_span(history, transactions)
    countries = _countries(transactions)
    rows, snapshot = pd.DataFrame(), pd.DataFrame()
    if panel:
        cutoffs = resolve_cutoff_range(first_purchase, last_day, settings)
        spliced = None
        if previous is not None and previous.panel is not None:
            before = previous.kept.table
            gone = history_entities(before).difference(history.entities)
            changed_from = first_changed_day(before, table, previous.rebuilt.union(gone))
            spliced = spliced_panel(history, previous, settings, cutoffs, countries, changed_from)
        rows = spliced if spliced is not None else _snapshots(history, settings, cutoffs, countries)
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
        snapshot = _snapshots(history, settings, last, countries)
    return PanelBuild(rows, snapshot, KeptHistory(table, last_day + 1))
