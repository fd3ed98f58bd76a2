"""``read_transactions``: any supported file in, canonical raw transactions out.

Canonical raw transactions are a DataFrame with exactly these columns, in this order:

========== ============== =================================================
column     dtype          meaning
========== ============== =================================================
entity_id  string         customer id as text; ``17850.0`` becomes ``"17850"``
invoice    string         invoice number; a leading ``C`` marks a cancellation
stock_code string         product code
description string        product text, may be null
quantity   int64          units, negative on returns
unit_price float64        price per unit
timestamp  datetime64[ns] naive local time of the line
country    string         ``"Unknown"`` where the file has none
========== ============== =================================================

``entity_id`` is null on guest rows; cleaning removes those. Every value that cannot be
parsed raises :class:`~glocal.core.errors.DataValidationError` naming the column, the row
and the value, never a silent NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from glocal.config.data import ColumnsSettings
from glocal.core.errors import DataValidationError
from glocal.data.columns import CANONICAL_COLUMNS, resolve_columns
from glocal.data.files import RawTable, read_raw_table

__all__ = ["read_transactions", "standardize"]

_STRING = pd.StringDtype()
_UNKNOWN_COUNTRY = "Unknown"
_DATE_OPTIONS: tuple[dict[str, Any], ...] = ({}, {"format": "ISO8601"}, {"dayfirst": True})


def _bad_value_error(
    table: RawTable, field: str, column: str, bad: pd.Series, expected: str, hint: str = ""
) -> DataValidationError:
    """Build the error for the first unusable value of ``column`` (``bad`` is a mask)."""
    positions = np.flatnonzero(bad.to_numpy())
    first = int(positions[0])
    value = table.frame[column].iloc[first]
    shown = "an empty cell" if pd.isna(value) else f"{str(value)!r}"
    more = f" ({len(positions):,} rows in all)" if len(positions) > 1 else ""
    return DataValidationError(
        f"column {column!r} must hold {expected}, but {table.locate(first)} has {shown}"
        f"{more}. Fix or remove those rows{hint}; if it is the wrong column, map the right "
        f"one with `columns.{field}` in config/settings.yaml."
    )


def _as_text(values: pd.Series) -> pd.Series:
    """Return codes as stripped strings; whole numbers lose a trailing ``.0``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # Format each distinct number once (ids repeat on thousands of rows), and let
        # Arrow spread the labels over the rows: no Python string object per row.
        codes, distinct = pd.factorize(values.astype("Float64"))
        numbers = pd.Series(distinct)
        whole = numbers == numbers.round()
        labels = numbers.astype(_STRING)
        labels[whole] = numbers[whole].astype("Int64").astype(_STRING)
        rows = pa.array(codes, mask=codes < 0)  # a missing number stays missing
        text = pc.take(pa.array(labels.to_numpy(dtype=object), type=pa.string()), rows)
        return pd.Series(pd.array(text, dtype=_STRING), index=values.index)
    return values.astype(_STRING).str.strip()


def _parse_entity(table: RawTable, column: str) -> pd.Series:
    values = table.frame[column]
    text = _as_text(values)
    if not pd.api.types.is_numeric_dtype(values):
        text = text.str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    text = text.mask(text == "")
    if text.isna().all():
        raise DataValidationError(
            f"column {column!r} of {table.path.name} is empty on every row, so no row has a "
            "customer. glocal fits one model per customer: if the ids are in another "
            "column, map it with `columns.entity` in config/settings.yaml."
        )
    return text


def _parse_number(table: RawTable, field: str, column: str, integer: bool) -> pd.Series:
    values = table.frame[column]
    expected = "whole numbers" if integer else "numbers"
    if pd.api.types.is_bool_dtype(values):
        raise _bad_value_error(table, field, column, pd.Series(True, index=values.index), expected)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
    else:
        text = values.astype(_STRING).str.strip()
        if table.decimal_comma:
            text = text.str.replace(",", ".", regex=False)
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = numbers.isna() | ~np.isfinite(numbers)
    if integer:
        bad |= numbers != numbers.round()
    if bad.any():
        hint = ""
        if not table.decimal_comma and values.astype(_STRING).str.contains(",").any():
            hint = " (write numbers without thousands separators, with '.' for decimals)"
        raise _bad_value_error(table, field, column, bad, expected, hint)
    return numbers.astype("int64") if integer else numbers


def _parse_timestamps(table: RawTable, field: str, column: str) -> pd.Series:
    values = table.frame[column]
    expected = "dates such as 2010-12-01 08:26 or 12/1/2010 8:26"
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        # Parse each distinct text once: transaction files repeat timestamps a lot.
        text = values.astype(_STRING).str.strip()
        distinct = pd.Series(text.dropna().unique())
        best: pd.Series | None = None
        # The format is inferred from the first value; ISO 8601 also takes mixed precision;
        # day-first covers 01/12/2010 for 1 December.
        for options in _DATE_OPTIONS:
            attempt = pd.to_datetime(distinct, errors="coerce", **options)
            if best is None or attempt.isna().sum() < best.isna().sum():
                best = attempt
            if not best.isna().any():
                break
        assert best is not None
        lookup = pd.Series(best.to_numpy(), index=distinct.to_numpy())
        parsed = pd.Series(text.map(lookup).to_numpy(), index=values.index)
        parsed = pd.to_datetime(parsed)
    bad = parsed.isna()
    if bad.any():
        raise _bad_value_error(table, field, column, bad, expected)
    result: pd.Series = parsed.astype("datetime64[ns]")
    return result


def standardize(table: RawTable, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Turn a file's rows into canonical raw transactions (see the module docstring).

    Args:
        table: the file's rows.
        mapping: ``{field: file column}`` from :func:`~glocal.data.columns.resolve_columns`.

    Raises:
        DataValidationError: a column holds values that cannot be parsed.

    """
    frame = table.frame
    out = pd.DataFrame(
        {
            "entity_id": _parse_entity(table, mapping["entity"]),
            "invoice": _as_text(frame[mapping["invoice"]]),
            "stock_code": _as_text(frame[mapping["stock_code"]]),
            "description": (
                frame[mapping["description"]].astype(_STRING)
                if "description" in mapping
                else pd.Series(pd.NA, index=frame.index, dtype=_STRING)
            ),
            "quantity": _parse_number(table, "quantity", mapping["quantity"], integer=True),
            "unit_price": _parse_number(table, "unit_price", mapping["unit_price"], integer=False),
            "timestamp": _parse_timestamps(table, "invoice_date", mapping["invoice_date"]),
        }
    )
    if "country" in mapping:
        country = _as_text(frame[mapping["country"]])
        out["country"] = country.mask(country == "").fillna(_UNKNOWN_COUNTRY)
    else:
        out["country"] = pd.Series(_UNKNOWN_COUNTRY, index=frame.index, dtype=_STRING)
    for column in ("invoice", "stock_code"):
        missing = out[column].isna() | (out[column] == "")
        if missing.any():
            raise _bad_value_error(table, column, mapping[column], missing, "a code on every row")
    return out[list(CANONICAL_COLUMNS)]


def read_transactions(
    path: Path, columns: ColumnsSettings, sheet: str | None = None
) -> pd.DataFrame:
    """Read a CSV, Parquet or XLSX transaction file into canonical raw transactions.

    The Online Retail and Online Retail II column names are recognised without settings;
    any other naming is mapped through ``columns``.

    Args:
        path: the file; ``.csv``/``.tsv``/``.txt``, ``.parquet``/``.pq`` or ``.xlsx``.
        columns: the ``columns`` settings section.
        sheet: the worksheet to read from a workbook with several sheets.

    Returns:
        One row per file row, with the columns described in :mod:`glocal.data.readers`.

    Raises:
        DataFileError: the file is missing, empty, damaged or of an unsupported format.
        DataValidationError: columns are missing or values cannot be parsed.

    Examples:
        >>> from glocal.config.data import ColumnsSettings
        >>> path = Path("online_retail.csv")
        >>> frame = read_transactions(path, ColumnsSettings())  # doctest: +SKIP
        >>> frame["entity_id"].iloc[0]  # doctest: +SKIP
        '17850'

    """
    table = read_raw_table(path, sheet)
    return standardize(table, resolve_columns(table.frame.columns, columns, table.path))
