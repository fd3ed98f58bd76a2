"""A realistic demo data set in the raw UCI Online Retail schema, with planted behaviour.

Customers differ in the ways that make per-customer models worth having:

* **segments**: ``frequent`` buyers (an order every few days), ``regular`` buyers on a fixed
  cycle (weekly, fortnightly, four-weekly or monthly), ``occasional`` buyers (a few orders
  a year), ``seasonal`` buyers who mostly order before Christmas, and ``sparse`` customers
  with one to three orders, too few for a local model;
* **trends**: each customer's order rate grows or shrinks over time, some start late and
  some churn;
* **baskets**: lines per order and units per line vary tenfold between customers
  (wholesalers against retail buyers).

The raw quirks of the real file are there too: guest orders without ``CustomerID``,
cancellations (``C`` invoices with negative quantities), ``POST`` postage lines (mostly on
orders from abroad), a few zero prices, an extreme order cancelled in full, and exactly
duplicated rows. No orders are placed on Saturdays, as in the UCI data.
Everything is drawn with numpy in whole-array operations, so 600 customers take well
under a second.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from glocal.config import Workspace
from glocal.core.atomic import atomic_path

__all__ = ["DEMO_FILE_NAME", "SEGMENTS", "generate_demo_transactions", "write_demo_file"]

DEMO_FILE_NAME = "demo_online_retail.parquet"
"""File name of the demo data under the workspace's ``data/raw``."""

SEGMENTS: dict[str, float] = {
    "frequent": 0.15,
    "regular": 0.30,
    "occasional": 0.25,
    "seasonal": 0.12,
    "sparse": 0.18,
}
"""Customer segments and their shares."""

_FIRST_INVOICE = 536365
_COUNTRIES = np.array(
    ["Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium", "Switzerland", "Norway"]
)
_COLOURS = np.array(["RED", "BLUE", "PINK", "WHITE", "GREEN", "IVORY", "VINTAGE", "RETRO"])
_STYLES = np.array(["HEART", "SPOTTY", "STAR", "FLORAL", "PAISLEY", "DOILY", "BIRD", "SKULL"])
_ITEMS = np.array(
    ["MUG", "LANTERN", "T-LIGHT HOLDER", "BUNTING", "LUNCH BAG", "CAKE STAND", "TIN", "CLOCK"]
)


def _catalog(rng: np.random.Generator, size: int = 400) -> pd.DataFrame:
    codes = rng.choice(np.arange(20000, 90000), size=size, replace=False).astype(str)
    suffix = np.where(rng.random(size) < 0.3, rng.choice(list("ABCDEFGLPS"), size), "")
    names = np.array([f"{c} {s} {i}" for c in _COLOURS for s in _STYLES for i in _ITEMS])
    popularity = 1.0 / np.arange(1, size + 1) ** 0.9
    return pd.DataFrame(
        {
            "code": np.char.add(codes, suffix),
            "description": rng.choice(names, size=size, replace=False),
            "price": np.round(np.exp(rng.normal(np.log(2.5), 0.8, size)), 2).clip(0.19, 40.0),
            "weight": popularity / popularity.sum(),
        }
    )


def _customers(rng: np.random.Generator, n: int, days: int) -> pd.DataFrame:
    segment = rng.choice(list(SEGMENTS), size=n, p=list(SEGMENTS.values()))
    wholesale = rng.random(n) < 0.3
    late_start = rng.random(n) < 0.3
    first_day = np.where(late_start, rng.integers(0, int(days * 0.7), n), 0)
    churned = rng.random(n) < 0.2
    last_day = np.where(churned, rng.integers(first_day + 60, days + 60), days)
    rate = np.select(
        [segment == "frequent", segment == "occasional", segment == "seasonal"],
        [rng.uniform(0.08, 0.3, n), 1 / rng.uniform(30, 120, n), 1 / rng.uniform(20, 60, n)],
        default=0.0,
    )
    return pd.DataFrame(
        {
            # ids as in the real file (12346-18299); more customers widen the range
            "customer_id": np.sort(
                rng.choice(np.arange(12346, 12346 + max(5954, 2 * n)), n, replace=False)
            ),
            "segment": segment,
            "rate": rate,
            "period": rng.choice([7, 14, 28, 30], n),
            "phase": rng.integers(0, 30, n),
            "trend": rng.normal(0.0, 0.8, n),
            "season_amp": np.where(segment == "seasonal", rng.uniform(0.7, 0.95, n), 0.2),
            "first_day": first_day,
            "last_day": np.minimum(last_day, days),
            "lines_mean": np.exp(rng.normal(np.log(np.where(wholesale, 15, 5)), 0.4)),
            "units_mean": np.exp(rng.normal(np.log(np.where(wholesale, 12, 2)), 0.4)),
            "country": np.where(rng.random(n) < 0.88, "United Kingdom", rng.choice(_COUNTRIES, n)),
        }
    )


def _order_counts(
    rng: np.random.Generator, customers: pd.DataFrame, start: dt.date, days: int
) -> np.ndarray:
    """Return an (n_customers, days) matrix of orders per customer and day."""
    t = np.arange(days)
    dates = pd.date_range(start, periods=days, freq="D")
    open_day = np.asarray(dates.day_of_week != 5)  # the shop takes no orders on Saturdays
    christmas = np.cos(2 * np.pi * (np.asarray(dates.day_of_year) - 320) / 365.25)
    col = customers.to_dict("series")

    def per_customer(name: str) -> np.ndarray:
        return np.asarray(col[name].to_numpy(), dtype=float)[:, None]

    active = (t >= per_customer("first_day")) & (t < per_customer("last_day")) & open_day
    growth = np.exp(per_customer("trend") * (t / days - 0.5))
    season = 1.0 + per_customer("season_amp") * christmas
    counts = rng.poisson(per_customer("rate") * growth * season * active)
    regular = (col["segment"] == "regular").to_numpy()
    on_cycle = (t - per_customer("phase")) % per_customer("period") == 0
    keeps_cycle = rng.random(on_cycle.shape) < np.clip(0.8 * growth * season, 0.05, 1.0)
    cycle_orders = on_cycle & keeps_cycle & (t >= per_customer("first_day"))
    cycle_orders &= t < per_customer("last_day")
    # A cycle day that falls on a Saturday moves to the Sunday after it.
    moved = np.zeros_like(cycle_orders)
    moved[:, 1:] = cycle_orders[:, :-1] & ~open_day[:-1]
    cycle_orders = (cycle_orders & open_day) | moved
    counts[regular] = cycle_orders[regular]
    sparse = (col["segment"] == "sparse").to_numpy()
    counts[sparse] = 0
    n_sparse = int(sparse.sum())
    sparse_rows = np.repeat(np.flatnonzero(sparse), 3)
    open_days = np.flatnonzero(open_day)
    sparse_days = rng.choice(open_days, 3 * n_sparse)
    picked = np.tile(np.arange(3), n_sparse) < np.repeat(rng.integers(1, 4, n_sparse), 3)
    counts[sparse_rows[picked], sparse_days[picked]] = 1
    empty = counts.sum(axis=1) == 0
    counts[np.flatnonzero(empty), rng.choice(open_days, int(empty.sum()))] = 1
    return np.minimum(counts, 2)


def _order_lines(
    rng: np.random.Generator, orders: pd.DataFrame, customers: pd.DataFrame, catalog: pd.DataFrame
) -> pd.DataFrame:
    """Expand orders into product lines: distinct products per order, units per line."""
    lines_mean = customers["lines_mean"].to_numpy()[orders["customer"].to_numpy()]
    n_lines = 1 + rng.poisson(lines_mean)
    order = np.repeat(np.arange(len(orders)), n_lines)
    product = rng.choice(len(catalog), size=len(order), p=catalog["weight"].to_numpy())
    lines = pd.DataFrame({"order": order, "product": product}).drop_duplicates()
    units_mean = customers["units_mean"].to_numpy()[orders["customer"].to_numpy()]
    lam = units_mean[lines["order"].to_numpy()] * np.exp(rng.normal(0, 0.4, len(lines)))
    lines["quantity"] = 1 + rng.poisson(lam)
    return lines.reset_index(drop=True)


def generate_demo_transactions(
    n_customers: int = 600,
    seed: int = 42,
    start: dt.date = dt.date(2010, 12, 1),
    days: int = 400,
) -> pd.DataFrame:
    """Generate demo transactions in the raw UCI Online Retail schema.

    Columns: ``InvoiceNo``, ``StockCode``, ``Description`` (strings), ``Quantity`` (int64),
    ``InvoiceDate`` (datetime64), ``UnitPrice`` (float64), ``CustomerID`` (nullable
    Int64) and ``Country``, one row per invoice line, sorted by time. The same arguments
    always give the same frame.

    Args:
        n_customers: customers with an id (guest orders come on top).
        seed: seed of the random generator.
        start: first day of the data.
        days: number of days covered.

    Examples:
        >>> demo = generate_demo_transactions(n_customers=50, seed=1)
        >>> list(demo.columns)[:4]
        ['InvoiceNo', 'StockCode', 'Description', 'Quantity']
        >>> bool(demo["CustomerID"].isna().any())
        True

    """
    if n_customers < 1 or days < 1:
        raise ValueError("generate_demo_transactions needs n_customers >= 1 and days >= 1")
    rng = np.random.default_rng(seed)
    catalog = _catalog(rng)
    customers = _with_guests(rng, _customers(rng, n_customers, days), n_customers, days)
    orders = _orders(rng, customers, start, days)
    lines = _order_lines(rng, orders, customers, catalog)
    events, cancel_lines = _cancellations(rng, orders, lines, start, days)
    post_lines = _postage(rng, events, customers)
    all_lines = pd.concat([lines, cancel_lines, post_lines], ignore_index=True)
    frame = _raw_frame(events, all_lines, customers, catalog)
    frame = _plant_quirks(rng, frame)
    frame = frame.sort_values(["InvoiceDate", "InvoiceNo"], kind="stable").reset_index(drop=True)
    text = ["InvoiceNo", "StockCode", "Description", "Country"]
    return frame.astype(dict.fromkeys(text, "string"))


def _with_guests(
    rng: np.random.Generator, customers: pd.DataFrame, n_customers: int, days: int
) -> pd.DataFrame:
    """Add guest checkouts: pseudo-customers of frequent retail orders whose id is dropped."""
    n_guests = max(1, n_customers // 12)
    guests = customers.iloc[rng.integers(0, n_customers, n_guests)].assign(
        customer_id=-1,
        segment="frequent",
        rate=rng.uniform(0.1, 0.3, n_guests),
        trend=0.0,
        season_amp=0.3,
        first_day=0,
        last_day=days,
        lines_mean=5.0,
        units_mean=3.0,
    )
    return pd.concat([customers, guests], ignore_index=True)


def _orders(
    rng: np.random.Generator, customers: pd.DataFrame, start: dt.date, days: int
) -> pd.DataFrame:
    """Draw every order: its customer and its time of day (one row per order)."""
    counts = _order_counts(rng, customers, start, days).ravel()
    customer, day = np.divmod(np.repeat(np.arange(counts.size), counts), days)
    minutes = rng.normal(12.5 * 60, 150, len(day)).clip(7 * 60, 20 * 60).astype(np.int64)
    base = np.datetime64(start, "m")
    return pd.DataFrame(
        {"customer": customer, "time": base + (day * 1440 + minutes).astype("timedelta64[m]")}
    )


def _cancellations(
    rng: np.random.Generator, orders: pd.DataFrame, lines: pd.DataFrame, start: dt.date, days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cancel about 3% of orders (some of their lines) within a month.

    Returns the events (orders, then cancellation invoices, with a ``cancel`` flag) and the
    cancelled lines, whose ``order`` is their cancellation event.
    """
    base = np.datetime64(start, "m")
    delay = rng.integers(10, 30 * 1440, len(orders)).astype("timedelta64[m]")
    cancel_time = orders["time"].to_numpy() + delay
    # Move cancellations off Saturdays; drop those that would fall after the data ends.
    saturday = pd.DatetimeIndex(cancel_time).day_of_week == 5
    cancel_time = cancel_time + np.where(saturday, 1440, 0).astype("timedelta64[m]")
    end = base + np.timedelta64(days, "D")
    cancelled = (rng.random(len(orders)) < 0.03) & (cancel_time < end)
    picked = cancelled[lines["order"].to_numpy()] & (rng.random(len(lines)) < 0.6)
    cancel_lines = lines.loc[picked].assign(quantity=lambda f: -f["quantity"])
    # Cancellation invoices are events after the orders: event len(orders) + k is the k-th.
    cancel_event = np.full(len(orders), -1)
    cancel_event[cancelled] = len(orders) + np.arange(int(cancelled.sum()))
    cancel_lines["order"] = cancel_event[cancel_lines["order"].to_numpy()]
    cancellations = pd.DataFrame(
        {"customer": orders["customer"].to_numpy()[cancelled], "time": cancel_time[cancelled]}
    )
    events = pd.concat([orders, cancellations], ignore_index=True)
    events["cancel"] = np.arange(len(events)) >= len(orders)
    return events, cancel_lines


def _postage(
    rng: np.random.Generator, events: pd.DataFrame, customers: pd.DataFrame
) -> pd.DataFrame:
    """Postage lines on most orders from abroad and a few from the UK."""
    abroad = customers["country"].to_numpy()[events["customer"].to_numpy()] != "United Kingdom"
    postage = ~events["cancel"].to_numpy() & (rng.random(len(events)) < np.where(abroad, 0.7, 0.01))
    return pd.DataFrame(
        {
            "order": np.flatnonzero(postage),
            "product": -1,
            "quantity": rng.integers(1, 4, int(postage.sum())),
        }
    )


def _raw_frame(
    events: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame, catalog: pd.DataFrame
) -> pd.DataFrame:
    """Spell the lines out in the raw Online Retail schema, invoices numbered in time order."""
    order_rank = np.empty(len(events), dtype=np.int64)
    order_rank[np.argsort(events["time"].to_numpy(), kind="stable")] = np.arange(len(events))
    event = lines["order"].to_numpy()
    product = lines["product"].to_numpy()
    is_post = product < 0
    safe_product = np.where(is_post, 0, product)
    number = (_FIRST_INVOICE + order_rank[event]).astype(str)
    customer_of_line = events["customer"].to_numpy()[event]
    ids = customers["customer_id"].to_numpy()[customer_of_line]
    return pd.DataFrame(
        {
            "InvoiceNo": np.where(
                events["cancel"].to_numpy()[event], np.char.add("C", number), number
            ),
            "StockCode": np.where(is_post, "POST", catalog["code"].to_numpy()[safe_product]),
            "Description": np.where(
                is_post, "POSTAGE", catalog["description"].to_numpy()[safe_product]
            ),
            "Quantity": lines["quantity"].to_numpy().astype(np.int64),
            "InvoiceDate": events["time"].to_numpy()[event].astype("datetime64[ns]"),
            "UnitPrice": np.where(is_post, 18.0, catalog["price"].to_numpy()[safe_product]),
            "CustomerID": pd.Series(ids, dtype="Int64").mask(ids < 0),
            "Country": customers["country"].to_numpy()[customer_of_line],
        }
    )


def _plant_quirks(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Add zero prices, one extreme order cancelled in full, and two duplicated rows."""
    known = frame.index[frame["CustomerID"].notna() & (frame["Quantity"] > 0)].to_numpy()
    zero_price = rng.choice(known, 3, replace=False)
    frame.loc[zero_price, "UnitPrice"] = 0.0
    template = frame.loc[[int(rng.choice(known))]]
    number = int(frame["InvoiceNo"].str.removeprefix("C").astype(int).max()) + 1
    extreme = pd.concat([template, template], ignore_index=True)
    extreme["Quantity"] = [24_000, -24_000]
    extreme["InvoiceNo"] = [str(number), f"C{number + 1}"]
    ordered_at = extreme["InvoiceDate"].to_numpy()[0]
    extreme["InvoiceDate"] = [ordered_at, ordered_at + np.timedelta64(12, "m")]
    duplicates = frame.loc[rng.choice(known, 2, replace=False)]
    return pd.concat([frame, extreme, duplicates], ignore_index=True)


def write_demo_file(workspace: Workspace, seed: int = 42, n_customers: int = 600) -> Path:
    """Write the demo transactions to ``data/raw/demo_online_retail.parquet`` atomically.

    Returns:
        The path of the written file, ready for ``glocal ingest``.

    """
    frame = generate_demo_transactions(n_customers=n_customers, seed=seed)
    target = workspace.raw_dir / DEMO_FILE_NAME
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return target
