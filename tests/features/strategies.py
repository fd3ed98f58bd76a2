"""Hypothesis strategies for small random transaction logs and feature settings."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import assume
from hypothesis import strategies as st

from glocal.config.features import FeatureSettings
from tests.features.conftest import Line, make_transactions

BASE = dt.datetime(2011, 1, 1)


@st.composite
def transaction_logs(draw: st.DrawFn, max_invoices: int = 20, max_days: int = 120) -> pd.DataFrame:
    """A log of a few entities' invoices, each of one to three lines, some cancelled."""
    lines = []
    for number in range(draw(st.integers(1, max_invoices))):
        entity = draw(st.sampled_from(["a", "b", "c"]))
        cancelled = draw(st.integers(0, 3)) == 0
        stamp = BASE + dt.timedelta(
            days=draw(st.integers(0, max_days)), minutes=draw(st.integers(0, 24 * 60 - 1))
        )
        country = draw(st.sampled_from(["United Kingdom", "France", None]))
        for _ in range(draw(st.integers(1, 3))):
            quantity = draw(st.integers(1, 12))
            lines.append(
                Line(
                    entity=entity,
                    invoice=f"C{number}" if cancelled else str(number),
                    timestamp=stamp,
                    stock_code=draw(st.sampled_from(["p1", "p2", "p3", "p4"])),
                    quantity=-quantity if cancelled else quantity,
                    unit_price=draw(st.sampled_from([0.0, 0.85, 2.55, 10.0, 1234.5])),
                    country=country,
                )
            )
    assume(any(not line.is_cancellation for line in lines))
    return make_transactions(lines)


feature_settings = st.builds(
    FeatureSettings,
    cutoff_every_days=st.sampled_from([1, 3, 7]),
    horizon_days=st.sampled_from([1, 7, 30]),
    windows_days=st.sampled_from([[7], [1, 30], [7, 30, 90]]),
    detail_window_days=st.sampled_from([7, 30]),
    trend_buckets=st.sampled_from([2, 3, 6]),
    trend_bucket_days=st.sampled_from([7, 30]),
)
