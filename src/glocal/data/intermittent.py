"""Synthetic intermittent purchase data: mostly nothing, now and then a large order.

The trap this data set sets is the one that fools a per-entity choice on spend data: most
customers buy rarely, so most 30-day targets are zero and a validation block of a few
weeks is often completely quiet, while the squared error is decided by rare, large orders
and by customers who come back. Customers follow the BG/NBD story with planted
heterogeneity:

* each customer starts at a random day and stays active for an exponential lifetime (some
  leave after their first order);
* while active, they order as a Poisson process whose rate is drawn from a gamma
  distribution with a small mean; a planted ``frequent`` share orders ten times as often;
* each order's value is lognormal around the customer's own mean value, drawn from a wide
  lognormal; a planted ``big`` share spends ten times as much per order.

The output is in the raw UCI Online Retail schema (one line per order), so it goes
through ``glocal ingest`` and ``glocal features`` like a real file. Everything is drawn
with numpy in whole-array operations.

Examples:
    >>> frame, truth = generate_intermittent_transactions(200, days=365, seed=1)
    >>> list(frame.columns)[:3]
    ['InvoiceNo', 'StockCode', 'Description']
    >>> bool((truth["rate_per_day"] > 0).all()), len(truth)
    (True, 200)

"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ["generate_intermittent_transactions"]

_START = dt.date(2015, 1, 5)


def generate_intermittent_transactions(
    n_customers: int,
    *,
    days: int = 540,
    seed: int = 0,
    mean_orders_per_year: float = 3.0,
    frequent_share: float = 0.1,
    big_share: float = 0.05,
    mean_order_value: float = 60.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate intermittent orders and the per-customer truth behind them.

    Args:
        n_customers: Customers to simulate.
        days: Length of the period, in days, starting 2015-01-05.
        seed: Seed of the random generator.
        mean_orders_per_year: Mean order rate of an ordinary active customer.
        frequent_share: Share of customers who order ten times as often.
        big_share: Share of customers whose orders are ten times as large.
        mean_order_value: Median order value of an ordinary customer.

    Returns:
        The orders in the raw Online Retail schema, and one row per customer with
        ``CustomerID``, ``start_day``, ``end_day``, ``rate_per_day``, ``value``,
        ``frequent``, ``big``.

    """
    if n_customers < 1 or days < 30:
        raise ValueError("n_customers must be >= 1 and days >= 30")
    rng = np.random.default_rng(seed)
    frequent = rng.random(n_customers) < frequent_share
    big = rng.random(n_customers) < big_share
    rate = rng.gamma(0.6, mean_orders_per_year / 365.0 / 0.6, n_customers)
    rate = np.where(frequent, rate * 10.0, rate)
    value = mean_order_value * rng.lognormal(0.0, 0.8, n_customers)
    value = np.where(big, value * 10.0, value)
    start = rng.integers(0, int(days * 0.8), n_customers)
    lifetime = rng.exponential(days * 0.6, n_customers)
    lifetime[rng.random(n_customers) < 0.3] = 0.0  # one-off customers
    end = np.minimum(days, start + lifetime)
    # the first order opens the account; the others arrive while active
    extra = rng.poisson(rate * (end - start))
    orders = 1 + extra
    customer = np.repeat(np.arange(n_customers), orders)
    first = np.r_[0, np.cumsum(orders)[:-1]]
    is_first = np.zeros(len(customer), dtype=bool)
    is_first[first] = True
    offset = rng.random(len(customer)) * (end - start)[customer]
    day = np.where(is_first, start[customer], start[customer] + offset).astype(np.int64)
    day = np.minimum(day, days - 1)
    amount = np.round(value[customer] * rng.lognormal(-0.3, 0.8, len(customer)), 2)
    amount = np.maximum(amount, 0.5)
    seconds = rng.integers(8 * 3600, 18 * 3600, len(customer))
    timestamp = pd.Timestamp(_START) + pd.to_timedelta(day * 86400 + seconds, unit="s")
    ids = np.array([f"{20000 + i}" for i in range(n_customers)])
    frame = pd.DataFrame(
        {
            "InvoiceNo": (600000 + np.arange(len(customer))).astype(str),
            "StockCode": "85123A",
            "Description": "ORDER",
            "Quantity": 1,
            "InvoiceDate": timestamp,
            "UnitPrice": amount,
            "CustomerID": ids[customer],
            "Country": "United Kingdom",
        }
    ).sort_values("InvoiceDate", kind="stable", ignore_index=True)
    truth = pd.DataFrame(
        {
            "CustomerID": ids,
            "start_day": start,
            "end_day": end,
            "rate_per_day": rate,
            "value": value,
            "frequent": frequent,
            "big": big,
        }
    )
    return frame, truth
