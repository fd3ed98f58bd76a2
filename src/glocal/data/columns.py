"""The canonical transaction schema and the mapping of a file's column names onto it.

A file's columns are matched to the canonical fields in this order: the name set in
``settings.columns``, then the UCI Online Retail and Online Retail II names. Names are
compared after lower-casing and dropping everything but letters and digits, so
``Customer ID``, ``customer_id`` and ``CustomerID`` all match the entity field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from glocal.config.data import ColumnsSettings
from glocal.core.errors import DataValidationError

__all__ = [
    "CANONICAL_COLUMNS",
    "CLEAN_COLUMNS",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "resolve_columns",
]

REQUIRED_FIELDS: tuple[str, ...] = (
    "invoice",
    "stock_code",
    "quantity",
    "invoice_date",
    "unit_price",
    "entity",
)
"""Fields of :class:`~glocal.config.data.ColumnsSettings` that a file must provide."""

OPTIONAL_FIELDS: tuple[str, ...] = ("description", "country")
"""Fields that may be absent: description stays null, country becomes ``"Unknown"``."""

CANONICAL_COLUMNS: tuple[str, ...] = (
    "entity_id",
    "invoice",
    "stock_code",
    "description",
    "quantity",
    "unit_price",
    "timestamp",
    "country",
)
"""Columns of canonical raw transactions, in order (what ``read_transactions`` returns)."""

CLEAN_COLUMNS: tuple[str, ...] = (*CANONICAL_COLUMNS, "amount", "is_cancellation")
"""Columns of cleaned transactions (what ``clean_transactions`` returns)."""

_KNOWN_NAMES: Mapping[str, tuple[str, ...]] = {
    "invoice": ("InvoiceNo", "Invoice"),
    "stock_code": ("StockCode",),
    "description": ("Description",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate",),
    "unit_price": ("UnitPrice", "Price"),
    "entity": ("CustomerID", "Customer ID"),
    "country": ("Country",),
}


_SETTINGS_FILE = "config/settings.yaml"


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def resolve_columns(
    found: Iterable[object], columns: ColumnsSettings, path: Path
) -> dict[str, str]:
    """Map each field of ``ColumnsSettings`` to the file column that holds it.

    Args:
        found: the column names of the file, in file order.
        columns: the ``columns`` settings; a set key wins over the known names.
        path: the file, named in error messages.

    Returns:
        ``{field: source column}`` for every required field and each optional field present.

    Raises:
        DataValidationError: a configured column is absent, or a required field matches no
            column; the message lists the columns found and the settings key to set.

    """
    names = [str(name) for name in found]
    by_normalised: dict[str, str] = {}
    for name in names:
        by_normalised.setdefault(_normalise(name), name)
    listing = ", ".join(repr(name) for name in names) or "(none)"
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for field in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS):
        configured: str | None = getattr(columns, field)
        if configured is not None:
            if configured in names:
                mapping[field] = configured
                continue
            if _normalise(configured) in by_normalised:
                mapping[field] = by_normalised[_normalise(configured)]
                continue
            raise DataValidationError(
                f"column {configured!r}, set by `columns.{field}` in {_SETTINGS_FILE}, is "
                f"not in {path.name}; found columns: {listing}. Correct `columns.{field}`, "
                "or set it to null to recognise the Online Retail names."
            )
        for candidate in _KNOWN_NAMES[field]:
            match = by_normalised.get(_normalise(candidate))
            if match is not None:
                mapping[field] = match
                break
        else:
            if field in REQUIRED_FIELDS:
                missing.append(field)
    if missing:
        details = "; ".join(
            f"{field} (looked for {' or '.join(repr(n) for n in _KNOWN_NAMES[field])}; "
            f"map it with `columns.{field}`)"
            for field in missing
        )
        noun = "column" if len(missing) == 1 else "columns"
        raise DataValidationError(
            f"{path.name} lacks the required {noun} {details}. Found columns: {listing}. "
            f"Set the key(s) in {_SETTINGS_FILE} to the names your file uses, e.g. "
            f"`columns.{missing[0]}: <your column name>`."
        )
    used = list(mapping.values())
    duplicated = sorted({name for name in used if used.count(name) > 1})
    if duplicated:
        raise DataValidationError(
            f"{path.name}: column {duplicated[0]!r} is mapped to more than one field; "
            f"give each key under `columns` in {_SETTINGS_FILE} a different column."
        )
    return mapping
