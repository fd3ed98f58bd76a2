"""Checks on the cleaned-transactions frame before any feature is computed from it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from glocal.core.errors import DataValidationError

__all__ = [
    "REQUIRED_COLUMNS",
    "check_required_columns",
    "check_transactions",
    "entity_index",
    "prepare_transactions",
]

REQUIRED_COLUMNS = (
    "entity_id",
    "invoice",
    "stock_code",
    "quantity",
    "amount",
    "timestamp",
    "is_cancellation",
)
"""Columns of the cleaned-transactions contract the features need; ``country`` is optional."""


def check_required_columns(columns: list[str], where: str) -> None:
    """Refuse transactions without every column of :data:`REQUIRED_COLUMNS`.

    ``where`` says where the contract's files come from (a function, a path).

    Raises:
        DataValidationError: naming the missing columns and where to get complete ones.

    """
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise DataValidationError(
            f"the transactions lack the column(s) {missing}; found {columns}. Build the "
            f"panel from `glocal ingest` output ({where}), which has every column of the "
            "cleaned-transactions contract."
        )


def check_transactions(transactions: pd.DataFrame) -> None:
    """Refuse cleaned transactions that lack a column, are empty or hold malformed values.

    Raises:
        DataValidationError: naming the missing or malformed column.

    """
    check_required_columns(list(transactions.columns), "glocal.data.load_clean_transactions")
    if transactions.empty:
        raise DataValidationError("the transactions are empty: there is nothing to build from.")
    timestamp = transactions["timestamp"]
    if not pd.api.types.is_datetime64_dtype(timestamp.dtype):
        raise DataValidationError(
            f"column 'timestamp' must be a naive datetime64 column, found {timestamp.dtype}."
        )
    for column in ("quantity", "amount"):
        if not pd.api.types.is_numeric_dtype(transactions[column].dtype):
            raise DataValidationError(
                f"column '{column}' must be numeric, found {transactions[column].dtype}."
            )
    for column in ("entity_id", "timestamp", "amount", "quantity", "is_cancellation"):
        nulls = int(transactions[column].isna().sum())
        if nulls:
            raise DataValidationError(
                f"column '{column}' has {nulls} empty value(s); cleaned transactions have none."
            )


def entity_index(transactions: pd.DataFrame) -> pd.Index:
    """Return the entity ids of ``transactions`` in order of first appearance.

    These are the ids :func:`prepare_transactions`'s integer ``entity_id`` codes stand for.
    """
    index: pd.Index = pd.Index(pd.factorize(transactions["entity_id"].astype(str))[1])
    return index


def prepare_transactions(transactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """Return the slim frame the SQL reads, and the entity ids its integer keys stand for.

    Entity, invoice and product become integer codes (joins and sorts on integers are
    several times faster than on strings); ``entity_id`` code ``k`` is ``entities[k]``.
    Money becomes integer micro-units (``amount_micros``) so that sums are exact.
    ``day`` counts days since 1970-01-01 of the transaction's calendar date, so "strictly
    before the cutoff's midnight" is ``day < cutoff``.

    Raises:
        DataValidationError: naming the missing or malformed column.

    """
    check_transactions(transactions)
    timestamp = transactions["timestamp"]
    country = (
        transactions["country"].astype(str)
        if "country" in transactions.columns
        else pd.Series(np.nan, index=transactions.index, dtype=str)
    )
    entity_codes, entities = pd.factorize(transactions["entity_id"].astype(str))
    days = timestamp.to_numpy().astype("datetime64[D]").astype(np.int64)
    lines = pd.DataFrame(
        {
            "entity_id": entity_codes.astype(np.int32),
            "invoice": pd.factorize(transactions["invoice"])[0].astype(np.int32),
            "stock_code": pd.factorize(transactions["stock_code"])[0].astype(np.int32),
            "quantity": transactions["quantity"].to_numpy(dtype=np.int64),
            "amount_micros": np.rint(
                transactions["amount"].to_numpy(dtype=np.float64) * 1e6
            ).astype(np.int64),
            "ts": timestamp.astype("datetime64[us]").to_numpy(),
            "day": days,
            "country": country.to_numpy(),
            "is_cancellation": transactions["is_cancellation"].to_numpy(dtype=bool),
        }
    )
    return lines, pd.Index(entities)
