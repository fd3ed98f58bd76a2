"""The DuckDB SQL that aggregates transactions to per-(entity, day) amounts.

DuckDB does the relational work here: dating each invoice by its first line, de-duplicating
purchase days and (product, day) pairs, and summing every measure per entity and day. The
result, ``history``, has one row per (entity, day) with activity, sorted by entity and day.
Its running totals up to and including each day are then taken per entity with numpy
(:func:`glocal.features.running_totals.running_by_entity`), so any window sum over
``[t0, t1)`` is the running total before ``t1`` minus the one before ``t0`` (see
:mod:`glocal.features.running_totals`).

Money arrives as integer micro-units (BIGINT), so every running total and every difference
of two is exact: a window's value never depends on rows outside it, not even by rounding.
"""

from __future__ import annotations

from glocal.config.features import FeatureSettings

__all__ = ["DAY_CTES", "MEASURES", "day_ctes", "history_sql"]

MEASURES = (
    "net",
    "purchase_value",
    "purchase_units",
    "return_value",
    "purchase_days",
    "gap_sq",
    "purchase_invoices",
    "return_invoices",
    "products",
)
"""Additive measures of ``history``, each a running total (money in micro-units)."""

DAY_CTES = """
purchase_days AS (
    SELECT entity_id, day,
           day - lag(day) OVER (PARTITION BY entity_id ORDER BY day) AS gap
    FROM (SELECT DISTINCT entity_id, day FROM $lines WHERE NOT is_cancellation)
),
invoices AS (
    -- an invoice counts as a purchase (a return) on the day of its first purchase
    -- (cancellation) line, so later lines of the same invoice never reach back in time
    SELECT entity_id, invoice, is_cancellation, min(day) AS day
    FROM $lines GROUP BY entity_id, invoice, is_cancellation
),
product_days AS (
    SELECT entity_id, day,
           lead(day) OVER (PARTITION BY entity_id, stock_code ORDER BY day) AS next_day
    FROM (SELECT DISTINCT entity_id, stock_code, day FROM $lines WHERE NOT is_cancellation)
)
"""
"""The common table expressions both engines' SQL start from (this DuckDB script, and
Spark SQL in :mod:`glocal.engines.spark_panel`), written in the SQL both speak:

* ``purchase_days``: each purchase day, and the gap in days since the one before;
* ``invoices``: an invoice counts as a purchase (a return) on the day of its first
  purchase (cancellation) line, so later lines of the same invoice never reach back;
* ``product_days``: each (product, day) bought, and the next day the same product is.

``$lines`` names the table of prepared lines (:func:`day_ctes`)."""


def day_ctes(lines: str) -> str:
    """Return :data:`DAY_CTES` reading the prepared lines from the table ``lines``."""
    return DAY_CTES.replace("$lines", lines)


_HISTORY_SQL = """
CREATE TEMP TABLE lines AS
SELECT entity_id, invoice, stock_code, quantity, amount_micros AS amount, day, ts, country,
       is_cancellation
FROM tx_frame;

CREATE TEMP TABLE entities AS
SELECT entity_id, min(day) AS first_purchase
FROM lines WHERE NOT is_cancellation GROUP BY entity_id;

CREATE TEMP TABLE history AS
WITH $day_ctes,
events AS (
    SELECT entity_id, day,
           sum(amount) AS net,
           sum(amount) FILTER (NOT is_cancellation) AS purchase_value,
           sum(quantity) FILTER (NOT is_cancellation) AS purchase_units,
           -sum(amount) FILTER (is_cancellation) AS return_value,
           arg_max(country, (ts, country)) FILTER (country IS NOT NULL) AS country
    FROM lines GROUP BY entity_id, day
    UNION ALL BY NAME
    SELECT entity_id, day, 1 AS purchase_days, coalesce(gap * gap, 0) AS gap_sq,
           day AS last_purchase
    FROM purchase_days
    UNION ALL BY NAME
    SELECT entity_id, day, count(*) FILTER (NOT is_cancellation) AS purchase_invoices,
           count(*) FILTER (is_cancellation) AS return_invoices
    FROM invoices GROUP BY entity_id, day
    UNION ALL BY NAME
    -- a product bought on day d is counted at the cutoffs in (d, d + window]; the -1 comes
    -- at the next purchase of the same product if that is sooner, whose +1 takes over, so
    -- the running total counts each product at most once
    SELECT entity_id, day, 1 AS products FROM product_days
    UNION ALL BY NAME
    SELECT entity_id, least(day + $detail_window, coalesce(next_day, day + $detail_window)) AS day,
           -1 AS products
    FROM product_days
)
SELECT entity_id, day,
       CAST(coalesce(sum(net), 0) AS BIGINT) AS net,
       CAST(coalesce(sum(purchase_value), 0) AS BIGINT) AS purchase_value,
       CAST(coalesce(sum(purchase_units), 0) AS BIGINT) AS purchase_units,
       CAST(coalesce(sum(return_value), 0) AS BIGINT) AS return_value,
       CAST(coalesce(sum(purchase_days), 0) AS BIGINT) AS purchase_days,
       CAST(coalesce(sum(gap_sq), 0) AS BIGINT) AS gap_sq,
       CAST(coalesce(sum(purchase_invoices), 0) AS BIGINT) AS purchase_invoices,
       CAST(coalesce(sum(return_invoices), 0) AS BIGINT) AS return_invoices,
       CAST(coalesce(sum(products), 0) AS BIGINT) AS products,
       max(last_purchase) AS last_purchase,
       max(country) AS country
FROM events GROUP BY entity_id, day
ORDER BY entity_id, day;
"""


def history_sql(settings: FeatureSettings) -> str:
    """Return the statements that build ``entities`` and ``history`` from ``tx_frame``.

    ``tx_frame`` is the frame of :func:`~glocal.features.transactions_input.prepare_transactions`.
    """
    sql = _HISTORY_SQL.replace("$day_ctes", day_ctes("lines"))
    return sql.replace("$detail_window", str(settings.detail_window_days))
