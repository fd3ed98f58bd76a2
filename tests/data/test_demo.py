from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd

from glocal.config import Settings, Workspace
from glocal.data import clean_transactions, generate_demo_transactions, read_transactions
from glocal.data.demo import DEMO_FILE_NAME, write_demo_file

RAW_DTYPES = {
    "InvoiceNo": "string",
    "StockCode": "string",
    "Description": "string",
    "Quantity": "int64",
    "InvoiceDate": "datetime64[ns]",
    "UnitPrice": "float64",
    "CustomerID": "Int64",
    "Country": "string",
}


def test_schema_and_determinism() -> None:
    demo = generate_demo_transactions(n_customers=50, seed=3)
    assert {column: str(dtype) for column, dtype in demo.dtypes.items()} == RAW_DTYPES
    pd.testing.assert_frame_equal(demo, generate_demo_transactions(n_customers=50, seed=3))
    assert not demo.equals(generate_demo_transactions(n_customers=50, seed=4))
    assert demo["InvoiceDate"].is_monotonic_increasing
    assert demo["CustomerID"].nunique() == 50


def test_default_size_is_fast_and_spans_the_period() -> None:
    started = time.perf_counter()
    demo = generate_demo_transactions()
    assert time.perf_counter() - started < 3.0
    assert demo["CustomerID"].nunique() == 600
    assert demo["InvoiceDate"].min() >= pd.Timestamp("2010-12-01")
    assert demo["InvoiceDate"].max() < pd.Timestamp("2010-12-01") + pd.Timedelta(days=400)
    assert (demo["InvoiceDate"].dt.day_of_week != 5).all()  # closed on Saturdays
    custom = generate_demo_transactions(n_customers=20, start=dt.date(2020, 1, 1), days=60)
    assert custom["InvoiceDate"].min() >= pd.Timestamp("2020-01-01")


def test_raw_quirks_are_present(small_demo: pd.DataFrame) -> None:
    assert small_demo["CustomerID"].isna().mean() > 0.05
    cancellations = small_demo["InvoiceNo"].str.startswith("C")
    assert cancellations.sum() > 0
    assert (small_demo.loc[cancellations, "Quantity"] < 0).all()
    assert (small_demo["StockCode"] == "POST").sum() > 0
    assert small_demo.duplicated().sum() >= 2
    assert (small_demo["UnitPrice"] == 0).sum() >= 3
    assert (small_demo["Quantity"].abs() >= 10_000).sum() == 2


def test_planted_heterogeneity() -> None:
    demo = generate_demo_transactions(n_customers=600, seed=42)
    known = demo[demo["CustomerID"].notna() & ~demo["InvoiceNo"].str.startswith("C")]
    orders = known.groupby("CustomerID")["InvoiceNo"].nunique()
    # Purchase frequency spreads over two orders of magnitude.
    assert orders.quantile(0.9) >= 10 * orders.quantile(0.1)
    # Some customers are too sparse for a local model, others have plenty of history.
    assert (orders <= 3).mean() > 0.1
    assert (orders >= 30).mean() > 0.05
    # Basket sizes differ: lines per invoice vary severalfold between customers.
    basket = known.groupby(["CustomerID", "InvoiceNo"]).size().groupby("CustomerID").mean()
    assert basket.quantile(0.9) > 2.5 * basket.quantile(0.1)
    # Seasonality: spend in November beats spend in spring.
    spend = (known["Quantity"] * known["UnitPrice"]).groupby(known["InvoiceDate"].dt.month).sum()
    assert spend[11] > 1.2 * spend[[3, 4, 5]].mean()
    # Trends: the share of the first half in a customer's orders varies widely.
    halfway = (
        known["InvoiceDate"].min() + (known["InvoiceDate"].max() - known["InvoiceDate"].min()) / 2
    )
    regular = orders[orders >= 10].index
    early = (known["InvoiceDate"] < halfway).groupby(known["CustomerID"]).mean()[regular]
    assert np.std(early) > 0.15


def test_write_and_ingest(workspace: Workspace) -> None:
    path = write_demo_file(workspace, seed=9, n_customers=30)
    assert path == workspace.raw_dir / DEMO_FILE_NAME
    raw = read_transactions(path, Settings().columns)
    clean, report = clean_transactions(raw, Settings().cleaning)
    assert report.count("missing_entity") > 0
    assert report.count("extreme_order_cancel_pair") == 2
    assert report.count("duplicate") >= 2
    assert report.count("cancellation") > 0
    assert clean["entity_id"].nunique() == 30
