from __future__ import annotations

from pathlib import Path

import pytest

from glocal.config.data import ColumnsSettings
from glocal.core.errors import DataValidationError
from glocal.data.columns import resolve_columns

ONLINE_RETAIL = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
ONLINE_RETAIL_II = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]
FILE = Path("shop.csv")


@pytest.mark.parametrize("names", [ONLINE_RETAIL, ONLINE_RETAIL_II], ids=["I", "II"])
def test_known_namings_need_no_settings(names: list[str]) -> None:
    mapping = resolve_columns(names, ColumnsSettings(), FILE)
    assert set(mapping) == {
        "invoice",
        "stock_code",
        "description",
        "quantity",
        "invoice_date",
        "unit_price",
        "entity",
        "country",
    }
    assert mapping["entity"] == names[6]
    assert mapping["unit_price"] == names[5]


def test_names_match_ignoring_case_and_punctuation() -> None:
    names = ["invoice_no", "stock_code", "quantity", "invoice_date", "unit_price", "customer_id"]
    mapping = resolve_columns(names, ColumnsSettings(), FILE)
    assert mapping["entity"] == "customer_id"
    assert "country" not in mapping
    assert "description" not in mapping


def test_configured_names_win() -> None:
    names = [*ONLINE_RETAIL, "client_no"]
    mapping = resolve_columns(names, ColumnsSettings(entity="client_no"), FILE)
    assert mapping["entity"] == "client_no"


def test_missing_required_column_names_found_columns_and_settings_key() -> None:
    names = [name for name in ONLINE_RETAIL if name != "CustomerID"]
    with pytest.raises(DataValidationError) as caught:
        resolve_columns(names, ColumnsSettings(), FILE)
    message = str(caught.value)
    assert "shop.csv" in message
    assert "`columns.entity`" in message
    assert "config/settings.yaml" in message
    assert "'UnitPrice'" in message  # the columns found are listed


def test_configured_column_absent_from_file() -> None:
    with pytest.raises(DataValidationError, match=r"'client_no', set by `columns.entity`"):
        resolve_columns(ONLINE_RETAIL, ColumnsSettings(entity="client_no"), FILE)


def test_one_column_for_two_fields_is_rejected() -> None:
    with pytest.raises(DataValidationError, match="more than one field"):
        resolve_columns(ONLINE_RETAIL, ColumnsSettings(entity="InvoiceNo"), FILE)
