"""Builders of small transaction logs in the cleaned-transactions schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pytest


@dataclass(frozen=True)
class Line:
    """One transaction line, as a test writes it."""

    entity: str
    invoice: str
    timestamp: dt.datetime
    stock_code: str = "p1"
    quantity: int = 1
    unit_price: float = 10.0
    country: str | None = "United Kingdom"

    @property
    def is_cancellation(self) -> bool:
        return self.invoice.startswith("C")


def make_transactions(lines: Sequence[Line]) -> pd.DataFrame:
    """Return a frame in the cleaned-transactions schema of the data layer."""
    frame = pd.DataFrame(
        {
            "entity_id": pd.Series([line.entity for line in lines], dtype="str"),
            "invoice": pd.Series([line.invoice for line in lines], dtype="str"),
            "stock_code": pd.Series([line.stock_code for line in lines], dtype="str"),
            "description": pd.Series([None] * len(lines), dtype="string"),
            "quantity": pd.Series([line.quantity for line in lines], dtype="int64"),
            "unit_price": pd.Series([line.unit_price for line in lines], dtype="float64"),
            "timestamp": pd.Series([line.timestamp for line in lines], dtype="datetime64[us]"),
            "country": pd.Series([line.country for line in lines], dtype="str"),
            "is_cancellation": pd.Series([line.is_cancellation for line in lines], dtype="bool"),
        }
    )
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    return frame


@pytest.fixture
def small_log() -> pd.DataFrame:
    """Two customers over a few weeks of January 2011, with one return."""
    day = dt.datetime(2011, 1, 3, 10, 0)  # a Monday
    return make_transactions(
        [
            Line("a", "1", day + dt.timedelta(days=1), "p1", 2, 5.0),
            Line("a", "2", day + dt.timedelta(days=9), "p2", 1, 20.0),
            Line("a", "C3", day + dt.timedelta(days=10), "p2", -1, 20.0),
            Line("b", "4", day + dt.timedelta(days=8), "p1", 3, 5.0, "France"),
            Line("a", "5", day + dt.timedelta(days=30), "p1", 1, 5.0),
            Line("b", "6", day + dt.timedelta(days=40), "p3", 4, 2.5, "France"),
        ]
    )
