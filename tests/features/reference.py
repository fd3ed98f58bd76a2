"""A slow, obviously correct pure-Python panel builder the DuckDB one is checked against.

It loops over entities, cutoffs and lines and spells every definition of
docs/features.md out directly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from typing import Any

import numpy as np
import pandas as pd

from glocal.config.features import FeatureSettings
from glocal.features.btyd import btyd_expected_spend


def _records(transactions: pd.DataFrame) -> list[dict[str, Any]]:
    records = transactions.to_dict("records")
    for record in records:
        record["day"] = record["timestamp"].date()
    return records


def reference_cutoffs(transactions: pd.DataFrame, settings: FeatureSettings) -> list[dt.date]:
    """Every anchored cutoff from the first purchase to the end of the data."""
    records = _records(transactions)
    first = min(r["day"] for r in records if not r["is_cancellation"])
    end = max(r["day"] for r in records) + dt.timedelta(days=1)
    cutoffs = []
    day = first + dt.timedelta(days=1)
    while day <= end:
        if (day - settings.cutoff_anchor).days % settings.cutoff_every_days == 0:
            cutoffs.append(day)
        day += dt.timedelta(days=1)
    return cutoffs


def _sum(values: list[float]) -> float:
    return math.fsum(values)


def _row(
    entity: str,
    cutoff: dt.date,
    lines: list[dict[str, Any]],
    end: dt.date,
    settings: FeatureSettings,
) -> dict[str, Any]:
    def window(days: int) -> list[dict[str, Any]]:
        start = cutoff - dt.timedelta(days=days)
        return [r for r in history if start <= r["day"]]

    history = [r for r in lines if r["day"] < cutoff]
    purchases = [r for r in history if not r["is_cancellation"]]
    purchase_days = sorted({r["day"] for r in purchases})
    horizon_end = cutoff + dt.timedelta(days=settings.horizon_days)
    row: dict[str, Any] = {
        "entity_id": entity,
        "cutoff": pd.Timestamp(cutoff),
        "target": _sum([r["amount"] for r in lines if cutoff <= r["day"] < horizon_end])
        if horizon_end <= end
        else math.nan,
        "recency_days": float((cutoff - purchase_days[-1]).days),
        "tenure_days": float((cutoff - purchase_days[0]).days),
    }
    for days in settings.windows_days:
        start = cutoff - dt.timedelta(days=days)
        first_line: dict[str, dt.date] = {}
        for r in purchases:
            first_line[r["invoice"]] = min(first_line.get(r["invoice"], r["day"]), r["day"])
        row[f"frequency_{days}d"] = float(sum(1 for d in first_line.values() if d >= start))
        row[f"monetary_{days}d"] = _sum([r["amount"] for r in window(days)])
    detail = settings.detail_window_days
    start = cutoff - dt.timedelta(days=detail)
    first_return: dict[str, dt.date] = {}
    first_purchase: dict[str, dt.date] = {}
    for r in history:
        target = first_return if r["is_cancellation"] else first_purchase
        target[r["invoice"]] = min(target.get(r["invoice"], r["day"]), r["day"])
    recent = window(detail)
    recent_purchases = [r for r in recent if not r["is_cancellation"]]
    invoices = sum(1 for d in first_purchase.values() if d >= start)
    row[f"returns_count_{detail}d"] = float(sum(1 for d in first_return.values() if d >= start))
    row[f"returns_value_{detail}d"] = -_sum([r["amount"] for r in recent if r["is_cancellation"]])
    units = sum(r["quantity"] for r in recent_purchases)
    value = _sum([r["amount"] for r in recent_purchases])
    row[f"basket_units_{detail}d"] = units / invoices if invoices else math.nan
    row[f"basket_value_{detail}d"] = value / invoices if invoices else math.nan
    row[f"distinct_products_{detail}d"] = float(len({r["stock_code"] for r in recent_purchases}))
    gaps = [(b - a).days for a, b in itertools.pairwise(purchase_days)]
    mean = statistics.fmean(gaps) if gaps else math.nan
    row["interval_mean_days"] = mean
    row["interval_std_days"] = statistics.pstdev(gaps) if len(gaps) >= 2 else math.nan
    row["recency_to_interval"] = row["recency_days"] / mean if gaps else math.nan
    n, width = settings.trend_buckets, settings.trend_bucket_days
    spend = []
    for j in range(n):
        lo = cutoff - dt.timedelta(days=width * (n - j))
        hi = cutoff - dt.timedelta(days=width * (n - 1 - j))
        spend.append(_sum([r["amount"] for r in history if lo <= r["day"] < hi]))
    row["spend_trend"] = statistics.linear_regression(list(range(n)), spend).slope
    gross = _sum([r["amount"] for r in purchases])
    first_day = _sum([r["amount"] for r in purchases if r["day"] == purchase_days[0]])
    row["purchase_days"] = float(len(purchase_days))
    row["spend_per_purchase_day"] = gross / len(purchase_days)
    naive = settings.naive_window_days
    horizon = settings.horizon_days
    row["baseline_naive"] = _sum([r["amount"] for r in window(naive)]) * horizon / naive
    for days in sorted(settings.windows_days):
        if horizon < days < naive:
            row[f"baseline_rate_{days}d"] = (
                _sum([r["amount"] for r in window(days)]) * horizon / days
            )
    if settings.btyd:
        repeats = len(purchase_days) - 1
        # inputs of the BG/NBD + Gamma-Gamma fit, replaced by the forecast in reference_panel
        row["baseline_btyd"] = (
            float(repeats),
            float((purchase_days[-1] - purchase_days[0]).days),
            float((cutoff - purchase_days[0]).days),
            (gross - first_day) / repeats if repeats else math.nan,
            row["spend_per_purchase_day"],
        )
    latest = max(
        (r for r in history if isinstance(r["country"], str)),
        key=lambda r: (r["timestamp"], r["country"]),
        default=None,
    )
    row["country"] = None if latest is None else latest["country"]
    stamp = pd.Timestamp(cutoff)
    row["cutoff_month"] = float(stamp.month)
    row["cutoff_week_of_year"] = float(stamp.isocalendar()[1])
    row["cutoff_day_of_year"] = float(stamp.day_of_year)
    return row


def reference_panel(transactions: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Build the panel with loops; same rows and columns as ``build_panel``."""
    records = _records(transactions)
    end = max(r["day"] for r in records) + dt.timedelta(days=1)
    rows = []
    for entity in sorted({r["entity_id"] for r in records}):
        lines = [r for r in records if r["entity_id"] == entity]
        purchases = [r["day"] for r in lines if not r["is_cancellation"]]
        if not purchases:
            continue
        for cutoff in reference_cutoffs(transactions, settings):
            if cutoff > min(purchases):
                rows.append(_row(entity, cutoff, lines, end, settings))
    panel = pd.DataFrame(rows)
    if settings.btyd and len(panel):
        # the fits themselves are tested in tests/features/test_btyd.py; here, their inputs
        inputs = np.array(panel["baseline_btyd"].tolist(), dtype=np.float64)
        cutoffs = pd.to_datetime(panel["cutoff"]).to_numpy().astype("datetime64[D]")
        panel["baseline_btyd"] = btyd_expected_spend(
            cutoffs.astype(np.int64),
            inputs[:, 0],
            inputs[:, 1],
            inputs[:, 2],
            inputs[:, 3],
            inputs[:, 4],
            settings.horizon_days,
        )
    return panel
