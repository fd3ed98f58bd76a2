from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config.data import ColumnsSettings
from glocal.core.errors import DataValidationError
from glocal.data import CANONICAL_COLUMNS, read_transactions

Writer = Callable[[pd.DataFrame, Path], Path]

CANONICAL_DTYPES = {
    "entity_id": "string",
    "invoice": "string",
    "stock_code": "string",
    "description": "string",
    "quantity": "int64",
    "unit_price": "float64",
    "timestamp": "datetime64[ns]",
    "country": "string",
}


def _csv(frame: pd.DataFrame, directory: Path) -> Path:
    path = directory / "shop.csv"
    frame.to_csv(path, index=False)
    return path


def _semicolon_decimal_comma(frame: pd.DataFrame, directory: Path) -> Path:
    path = directory / "shop.csv"
    frame.to_csv(path, index=False, sep=";", decimal=",")
    return path


def _tsv(frame: pd.DataFrame, directory: Path) -> Path:
    path = directory / "shop.tsv"
    frame.to_csv(path, index=False, sep="\t")
    return path


def _parquet(frame: pd.DataFrame, directory: Path) -> Path:
    path = directory / "shop.parquet"
    frame.to_parquet(path, index=False)
    return path


def _xlsx(frame: pd.DataFrame, directory: Path) -> Path:
    path = directory / "shop.xlsx"
    frame.to_excel(path, index=False, sheet_name="Online Retail")
    return path


@pytest.fixture
def sample(small_demo: pd.DataFrame) -> pd.DataFrame:
    """300 demo rows including guests, cancellations and postage."""
    picked = pd.concat(
        [
            small_demo.head(250),
            small_demo[small_demo["CustomerID"].isna()].head(20),
            small_demo[small_demo["InvoiceNo"].str.startswith("C")].head(20),
            small_demo[small_demo["StockCode"] == "POST"].head(10),
        ]
    )
    return picked.reset_index(drop=True)


@pytest.mark.parametrize(
    "write",
    [_csv, _semicolon_decimal_comma, _tsv, _parquet, _xlsx],
    ids=["csv", "semicolon", "tsv", "parquet", "xlsx"],
)
def test_every_format_gives_the_same_canonical_frame(
    write: Writer, sample: pd.DataFrame, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    expected = read_transactions(_parquet(sample, reference), ColumnsSettings())
    frame = read_transactions(write(sample, tmp_path), ColumnsSettings())
    assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == CANONICAL_DTYPES
    pd.testing.assert_frame_equal(frame, expected)


def test_canonical_values(sample: pd.DataFrame, tmp_path: Path) -> None:
    frame = read_transactions(_parquet(sample, tmp_path), ColumnsSettings())
    assert list(frame.columns) == list(CANONICAL_COLUMNS)
    assert frame["entity_id"].isna().sum() == sample["CustomerID"].isna().sum()
    first = sample.iloc[0]
    assert frame["entity_id"].iloc[0] == str(first["CustomerID"])
    assert frame["invoice"].iloc[0] == first["InvoiceNo"]
    assert frame["quantity"].sum() == sample["Quantity"].sum()


def test_float_customer_ids_become_integer_strings(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
        "536365,85123A,6,12/1/2010 8:26,2.55,17850.0\n"
        "536366,71053,2,12/1/2010 8:28,3.39,\n"
    )
    frame = read_transactions(path, ColumnsSettings())
    assert frame["entity_id"].iloc[0] == "17850"
    assert pd.isna(frame["entity_id"].iloc[1])
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert frame["country"].tolist() == ["Unknown", "Unknown"]  # no Country column
    assert frame["description"].isna().all()  # no Description column

    numeric = tmp_path / "numeric.parquet"
    pd.DataFrame(
        {
            "InvoiceNo": [536365, 536366],
            "StockCode": ["85123A", "71053"],
            "Quantity": [6, 2],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26", "2010-12-01 08:28"]),
            "UnitPrice": [2.55, 3.39],
            "CustomerID": [17850.0, float("nan")],
        }
    ).to_parquet(numeric)
    frame = read_transactions(numeric, ColumnsSettings())
    assert frame["entity_id"].iloc[0] == "17850"
    assert frame["invoice"].tolist() == ["536365", "536366"]


def test_online_retail_ii_naming(sample: pd.DataFrame, tmp_path: Path) -> None:
    renamed = sample.rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    expected = read_transactions(_parquet(sample, tmp_path), ColumnsSettings())
    frame = read_transactions(_csv(renamed, tmp_path), ColumnsSettings())
    pd.testing.assert_frame_equal(frame, expected)


def test_custom_naming_through_settings(sample: pd.DataFrame, tmp_path: Path) -> None:
    names = {
        "InvoiceNo": "order_ref",
        "StockCode": "sku",
        "Description": "item",
        "Quantity": "units",
        "InvoiceDate": "ordered_at",
        "UnitPrice": "gbp_each",
        "CustomerID": "client_no",
        "Country": "market",
    }
    path = _csv(sample.rename(columns=names), tmp_path)
    with pytest.raises(DataValidationError, match=r"`columns\.invoice`"):
        read_transactions(path, ColumnsSettings())
    columns = ColumnsSettings(
        invoice="order_ref",
        stock_code="sku",
        description="item",
        quantity="units",
        invoice_date="ordered_at",
        unit_price="gbp_each",
        entity="client_no",
        country="market",
    )
    expected = read_transactions(_parquet(sample, tmp_path), ColumnsSettings())
    pd.testing.assert_frame_equal(read_transactions(path, columns), expected)


def _one_row_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "shop.csv"
    header = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_day_first_dates_are_recognised(tmp_path: Path) -> None:
    path = _one_row_csv(tmp_path, ["1,A,1,01/12/2010 08:26,1.0,5", "2,A,1,13/12/2010 09:00,1.0,5"])
    frame = read_transactions(path, ColumnsSettings())
    assert frame["timestamp"].dt.month.tolist() == [12, 12]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "2,A,1,not a date,1.0,5",
            r"'InvoiceDate'.*line 3 of shop.csv \(data row 2\).*'not a date'",
        ),
        ("2,A,six,2010-12-01,1.0,5", r"'Quantity'.*line 3 of shop.csv \(data row 2\).*'six'"),
        ("2,A,1.5,2010-12-01,1.0,5", r"'Quantity' must hold whole numbers.*'1.5'"),
        ("2,A,1,2010-12-01,£1,5", r"'UnitPrice' must hold numbers.*line 3.*'£1'"),
        ("2,A,1,2010-12-01,,5", r"'UnitPrice'.*an empty cell"),
        ("2,,1,2010-12-01 09:00,1.0,5", r"'StockCode' must hold a code on every row"),
    ],
)
def test_bad_values_name_column_row_and_value(tmp_path: Path, row: str, expected: str) -> None:
    path = _one_row_csv(tmp_path, ["1,A,1,2010-12-01 08:26,1.0,5", row])
    with pytest.raises(DataValidationError, match=expected):
        read_transactions(path, ColumnsSettings())


def test_thousands_separator_gets_a_hint(tmp_path: Path) -> None:
    path = _one_row_csv(tmp_path, ['1,A,"1,000",2010-12-01,1.0,5'])
    with pytest.raises(DataValidationError, match="without thousands separators"):
        read_transactions(path, ColumnsSettings())


def test_all_customer_ids_missing(tmp_path: Path) -> None:
    path = _one_row_csv(tmp_path, ["1,A,1,2010-12-01,1.0,", "2,A,1,2010-12-01,1.0,"])
    with pytest.raises(DataValidationError, match=r"empty on every row.*`columns\.entity`"):
        read_transactions(path, ColumnsSettings())


def test_all_numeric_customer_ids_missing(tmp_path: Path) -> None:
    path = tmp_path / "shop.parquet"
    pd.DataFrame(
        {
            "InvoiceNo": ["1", "2"],
            "StockCode": ["A", "B"],
            "Quantity": [1, 2],
            "InvoiceDate": pd.to_datetime(["2010-12-01", "2010-12-02"]),
            "UnitPrice": [1.0, 2.0],
            "CustomerID": [np.nan, np.nan],  # a number column with no number in it
        }
    ).to_parquet(path, index=False)
    with pytest.raises(DataValidationError, match=r"empty on every row.*`columns\.entity`"):
        read_transactions(path, ColumnsSettings())


def test_numeric_customer_ids_become_text_without_a_trailing_zero(tmp_path: Path) -> None:
    path = tmp_path / "shop.parquet"
    pd.DataFrame(
        {
            "InvoiceNo": ["1", "2", "3"],
            "StockCode": ["A", "B", "C"],
            "Quantity": [1, 2, 3],
            "InvoiceDate": pd.to_datetime(["2010-12-01", "2010-12-02", "2010-12-03"]),
            "UnitPrice": [1.0, 2.0, 3.0],
            "CustomerID": [17850.0, np.nan, 12.5],
        }
    ).to_parquet(path, index=False)
    ids = read_transactions(path, ColumnsSettings())["entity_id"]
    assert ids.tolist()[0::2] == ["17850", "12.5"] and pd.isna(ids.iloc[1])


def test_parquet_rows_are_counted_from_one(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pd.DataFrame(
        {
            "InvoiceNo": ["1", "2"],
            "StockCode": ["A", "B"],
            "Quantity": ["1", "x"],
            "InvoiceDate": ["2010-12-01", "2010-12-02"],
            "UnitPrice": [1.0, 2.0],
            "CustomerID": [1, 2],
        }
    ).to_parquet(path)
    with pytest.raises(DataValidationError, match=r"data row 2 of bad.parquet \(1-based"):
        read_transactions(path, ColumnsSettings())
