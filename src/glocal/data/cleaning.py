"""Cleaning rules applied to canonical raw transactions before anything is modelled.

The rules run in this order; each counts the rows it touches among those the earlier rules
left, so the counts of the report add up to the rows removed:

1. ``missing_entity`` (removed): the row has no customer id (a guest checkout); no
   per-customer model can use it.
2. ``non_product_code`` (removed): the stock code is in ``cleaning.non_product_codes``
   (postage, fees, manual adjustments, bank charges...), which are not purchases.
3. ``non_positive_price`` (removed): the unit price is zero or negative (free samples,
   bad-debt adjustments, data entry).
4. ``duplicate`` (removed, if ``cleaning.drop_duplicates``): the row is an exact copy of an
   earlier row in every canonical column; the first copy is kept.
5. ``extreme_order_cancel_pair`` (removed): an order line of at least
   ``cleaning.extreme_quantity`` units that the same customer cancelled in full (same
   product, same number of units, cancellation not earlier than the order). Both lines go:
   together they net to zero but would dominate any windowed feature in between.
6. ``cancellation`` (flagged, kept): the invoice starts with ``C`` or the quantity is
   negative. The row stays as negative spend and gets ``is_cancellation = True``.

The output adds ``amount = quantity * unit_price`` (float64, negative on cancellations) and
``is_cancellation`` (bool), and is sorted by timestamp (stable, so file order breaks ties).
:func:`clean_with_digests` also returns each entity's content digest
(:mod:`glocal.data.digests`), from the row hashes the duplicate rule takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from glocal.config.data import CleaningSettings
from glocal.core.errors import DataValidationError
from glocal.data.columns import CANONICAL_COLUMNS, CLEAN_COLUMNS
from glocal.data.digests import entity_digests, row_hashes
from glocal.data.report import CleaningReport, RuleOutcome

__all__ = [
    "RULE_DESCRIPTIONS",
    "CleanedTransactions",
    "clean_transactions",
    "clean_with_digests",
    "is_cancellation",
]

RULE_DESCRIPTIONS: dict[str, str] = {
    "missing_entity": "Rows without a customer id (guest checkouts).",
    "non_product_code": "Postage, fees and adjustments listed in cleaning.non_product_codes.",
    "non_positive_price": "Rows whose unit price is zero or negative.",
    "duplicate": "Exact copies of an earlier row (the first copy is kept).",
    "extreme_order_cancel_pair": (
        "Orders of at least cleaning.extreme_quantity units cancelled in full by the same "
        "customer, together with their cancellation."
    ),
    "cancellation": "Cancellations and returns, kept as negative spend.",
}
"""One sentence per rule, in the order the rules run."""


def is_cancellation(frame: pd.DataFrame) -> pd.Series:
    """Return a boolean mask: invoice starting with ``C`` (any case) or negative quantity."""
    starts_with_c = frame["invoice"].str.upper().str.startswith("C").fillna(False)
    return (starts_with_c.astype(bool) | (frame["quantity"] < 0)).astype(bool)


def _extreme_pairs(
    frame: pd.DataFrame, threshold: int, cancelled: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Return a boolean mask of order lines and their full cancellations (``>= threshold``).

    Only the ``kept`` rows take part; ``cancelled`` is :func:`is_cancellation` of ``frame``.
    """
    quantity = frame["quantity"].to_numpy()
    keys = ["entity_id", "stock_code", "units"]
    orders = frame.loc[kept & ~cancelled & (quantity >= threshold), ["entity_id", "stock_code"]]
    orders = orders.assign(
        units=quantity[orders.index], order_time=frame["timestamp"].to_numpy()[orders.index]
    )
    cancels = frame.loc[kept & cancelled & (quantity <= -threshold), ["entity_id", "stock_code"]]
    cancels = cancels.assign(
        units=-quantity[cancels.index], cancel_time=frame["timestamp"].to_numpy()[cancels.index]
    )
    mask = np.zeros(len(frame), dtype=bool)
    if orders.empty or cancels.empty:
        return mask
    pairs = (
        cancels.reset_index(names="cancel_row")
        .merge(orders.reset_index(names="order_row"), on=keys)
        .query("order_time <= cancel_time")
        # Pair each cancellation with the latest order before it, and use each order once.
        .sort_values(["cancel_row", "order_time"])
        .drop_duplicates("cancel_row", keep="last")
        .drop_duplicates("order_row", keep="first")
    )
    mask[pairs["cancel_row"].to_numpy()] = True
    mask[pairs["order_row"].to_numpy()] = True
    return mask


def _duplicated(frame: pd.DataFrame, hashes: np.ndarray) -> np.ndarray:
    """Return ``frame.duplicated(keep="first")``, exact, from the rows' 64-bit ``hashes``.

    Only rows whose hash repeats are compared value by value, so a hash collision can
    never remove a row. The repeats are found by sorting the hashes: at 3.5M rows that
    takes 0.07 s, where pandas' hash table (``Series.duplicated``) took 0.6-0.7 s.
    """
    ordered = np.sort(hashes)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    mask = np.zeros(len(frame), dtype=bool)
    candidates = np.flatnonzero(np.isin(hashes, repeated)) if len(repeated) else repeated
    if len(candidates):
        mask[candidates] = frame.take(candidates).duplicated(keep="first").to_numpy()
    return mask


def _check_canonical(frame: pd.DataFrame) -> None:
    missing = [column for column in CANONICAL_COLUMNS if column not in frame.columns]
    if missing:
        raise DataValidationError(
            f"clean_transactions needs canonical raw transactions, but the frame lacks "
            f"{', '.join(missing)}; build it with glocal.data.read_transactions."
        )


@dataclass(frozen=True)
class CleanedTransactions:
    """The output of :func:`clean_with_digests`.

    Attributes:
        frame: the cleaned transactions, as :func:`clean_transactions` returns them.
        report: the rows each rule touched.
        digests: each entity's content digest (:func:`glocal.data.digests.entity_digests`).

    """

    frame: pd.DataFrame
    report: CleaningReport
    digests: pd.DataFrame


def clean_transactions(
    frame: pd.DataFrame, cleaning: CleaningSettings
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules of this module to canonical raw transactions.

    Args:
        frame: canonical raw transactions, as returned by ``read_transactions``.
        cleaning: the ``cleaning`` settings section.

    Returns:
        The cleaned transactions (canonical columns plus ``amount`` and
        ``is_cancellation``, with a fresh index) and the report counting rows per rule.

    Examples:
        >>> from glocal.config.data import CleaningSettings
        >>> clean, report = clean_transactions(raw, CleaningSettings())  # doctest: +SKIP
        >>> report.count("missing_entity")  # doctest: +SKIP
        135080

    """
    cleaned = clean_with_digests(frame, cleaning)
    return cleaned.frame, cleaned.report


def clean_with_digests(frame: pd.DataFrame, cleaning: CleaningSettings) -> CleanedTransactions:
    """Return :func:`clean_transactions` of ``frame`` and the digest of each entity's lines.

    The rows are hashed once, for the duplicate rule and for the digests of the lines
    that remain.
    """
    _check_canonical(frame)
    current = frame.loc[:, list(CANONICAL_COLUMNS)].reset_index(drop=True)
    hashes = row_hashes(current)
    outcomes: list[RuleOutcome] = []
    # Every rule reads the row's own values only (the pair rule also its partner's), so
    # each mask is computed on all rows and counts the rows the earlier rules left; the
    # frame is filtered once at the end. Identical rows share their fate under rules 1-3,
    # so "a copy of an earlier row" means the same among all rows and among those left.
    kept = np.ones(len(current), dtype=bool)

    def remove(rule: str, mask: np.ndarray | pd.Series) -> None:
        drop = np.asarray(mask, dtype=bool) & kept
        outcomes.append(
            RuleOutcome(
                rule=rule,
                action="removed",
                rows=int(drop.sum()),
                description=RULE_DESCRIPTIONS[rule],
            )
        )
        kept[drop] = False

    remove("missing_entity", current["entity_id"].isna())
    remove("non_product_code", current["stock_code"].isin(cleaning.non_product_codes))
    remove("non_positive_price", current["unit_price"] <= 0)
    if cleaning.drop_duplicates:
        remove("duplicate", _duplicated(current, hashes))
    cancellation = is_cancellation(current).to_numpy()
    remove(
        "extreme_order_cancel_pair",
        _extreme_pairs(current, cleaning.extreme_quantity, cancellation, kept),
    )
    # one take for the filter and the (stable) sort by time
    rows = np.flatnonzero(kept)
    rows = rows[np.argsort(current["timestamp"].to_numpy()[rows], kind="stable")]
    current = current.take(rows).reset_index(drop=True)
    cancellation = cancellation[rows]
    outcomes.append(
        RuleOutcome(
            rule="cancellation",
            action="flagged",
            rows=int(cancellation.sum()),
            description=RULE_DESCRIPTIONS["cancellation"],
        )
    )
    current["amount"] = (current["quantity"] * current["unit_price"]).astype("float64")
    current["is_cancellation"] = cancellation
    report = CleaningReport(rows_in=len(frame), rows_out=len(current), outcomes=outcomes)
    digests = entity_digests(current["entity_id"], hashes[rows])
    return CleanedTransactions(current.loc[:, list(CLEAN_COLUMNS)], report, digests)
