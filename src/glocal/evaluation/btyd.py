"""The ``btyd`` policy: BG/NBD + Gamma-Gamma from pymc-marketing, refitted at each test cutoff.

This is the standard customer-lifetime-value forecast as a user would run it with a
maintained library: at every test cutoff, the transactions before it are summarised per
customer (purchase days with positive net spend; frequency, recency, age and mean spend of
the repeat days, as ``pymc_marketing.clv.rfm_summary`` defines them), a BG/NBD model and a
Gamma-Gamma model are fitted by maximum a posteriori with pymc-marketing's default priors,
and each customer's expected spend over the horizon is their expected purchases times
their expected spend per purchase. Customers without a purchase before the cutoff get 0.

It needs the optional ``btyd`` extra (``pip install 'glocal[btyd]'``) and a panel built
from transactions; otherwise :func:`btyd_predictions` returns ``None`` and says why.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.core.logging import get_logger

__all__ = ["MISSING_EXTRA", "btyd_predictions"]

FloatArray = npt.NDArray[np.float64]

MISSING_EXTRA = (
    "skipped: pymc-marketing is not installed; install it with pip install 'glocal[btyd]'"
)

_log = get_logger("evaluation.btyd")


def _import_models() -> tuple[Any, Any] | None:
    try:
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
    except ImportError:
        return None
    return BetaGeoModel, GammaGammaModel


def daily_net_spend(transactions: pd.DataFrame) -> pd.DataFrame:
    """Return ``entity_id, day, amount``: each customer's net spend per calendar day."""
    frame = pd.DataFrame(
        {
            "entity_id": transactions["entity_id"].astype(str).to_numpy(),
            "day": pd.to_datetime(transactions["timestamp"]).dt.floor("D").to_numpy(),
            "amount": transactions["amount"].to_numpy(dtype=np.float64),
        }
    )
    daily: pd.DataFrame = frame.groupby(["entity_id", "day"], sort=True, as_index=False).agg(
        amount=("amount", "sum")
    )
    return daily


def _summary(daily: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Return the RFM summary of the purchase days before ``cutoff``."""
    days = daily[(daily["day"] < cutoff) & (daily["amount"] > 0)]
    grouped = days.groupby("entity_id", sort=True)
    first, last = grouped["day"].min(), grouped["day"].max()
    count, total = grouped.size(), grouped["amount"].sum()
    first_amount = grouped["amount"].first()  # rows are sorted by day within a customer
    frequency = (count - 1).astype(np.float64)
    repeat_mean = (total - first_amount) / frequency.where(frequency > 0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(count)),
            "frequency": frequency.to_numpy(),
            "recency": (last - first).dt.days.to_numpy(dtype=np.float64),
            "T": (cutoff - first).dt.days.to_numpy(dtype=np.float64),
            "monetary_value": repeat_mean.fillna(0.0).to_numpy(),
        },
        index=count.index,
    )


def _expected_spend(models: tuple[Any, Any], summary: pd.DataFrame, horizon_days: int) -> pd.Series:
    beta_geo, gamma_gamma = models
    rfm = summary[["customer_id", "frequency", "recency", "T"]]
    purchases_model = beta_geo(data=rfm)
    purchases_model.fit(method="map", progressbar=False)
    purchases = purchases_model.expected_purchases(data=rfm, future_t=horizon_days)
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    spend_model = gamma_gamma(data=repeat[["customer_id", "frequency", "monetary_value"]])
    spend_model.fit(method="map", progressbar=False)
    spend = spend_model.expected_customer_spend(
        data=summary[["customer_id", "frequency", "monetary_value"]]
    )
    values = np.asarray(purchases.values, dtype=np.float64).reshape(-1)
    values = values * np.asarray(spend.values, dtype=np.float64).reshape(-1)
    return pd.Series(np.nan_to_num(values), index=summary.index)


def btyd_predictions(
    transactions: pd.DataFrame | None,
    test: pd.DataFrame,
    horizon_days: int,
) -> tuple[FloatArray | None, str]:
    """Predict every test row with BG/NBD + Gamma-Gamma refitted at its cutoff.

    Args:
        transactions: Cleaned transactions (``entity_id``, ``timestamp``, ``amount``), or
            ``None`` when the panel was not built from transactions.
        test: Test rows (``entity_id``, ``cutoff``).
        horizon_days: Days the target sums over.

    Returns:
        The predictions (or ``None``) and a note on how they were made (or why not).

    """
    if transactions is None:
        return None, "skipped: the panel was not built from transactions"
    models = _import_models()
    if models is None:
        return None, MISSING_EXTRA
    daily = daily_net_spend(transactions)
    prediction = np.zeros(len(test))
    entity = test["entity_id"].astype(str).to_numpy()
    cutoffs = pd.to_datetime(test["cutoff"])
    quiet = ("pymc", "pytensor", "pymc_marketing", "pymc_extras")
    levels = {name: logging.getLogger(name).level for name in quiet}
    try:
        for name in quiet:
            logging.getLogger(name).setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for cutoff in np.unique(cutoffs.to_numpy()):
                rows = np.flatnonzero((cutoffs == cutoff).to_numpy())
                summary = _summary(daily, pd.Timestamp(cutoff))
                if len(summary) < 2:
                    continue
                spend = _expected_spend(models, summary, horizon_days)
                prediction[rows] = spend.reindex(entity[rows]).fillna(0.0).to_numpy()
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    note = (
        "pymc-marketing BetaGeoModel + GammaGammaModel (MAP, default priors), refitted at "
        "each test cutoff on the daily net spend before it"
    )
    return prediction, note
