from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.core.errors import DataFileError, DataValidationError
from glocal.data.files import detect_format, list_sheets, read_raw_table


def test_formats_from_extensions() -> None:
    assert detect_format(Path("a.CSV")) == "csv"
    assert detect_format(Path("a.tsv")) == "csv"
    assert detect_format(Path("a.parquet")) == "parquet"
    assert detect_format(Path("a.xlsx")) == "xlsx"


@pytest.mark.parametrize(("name", "hint"), [("a.json", "not supported"), ("a.xls", "as .xlsx")])
def test_unsupported_extension(name: str, hint: str) -> None:
    with pytest.raises(DataFileError, match=hint):
        detect_format(Path(name))


def test_missing_empty_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        read_raw_table(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"empty \(0 bytes\)"):
        read_raw_table(tmp_path / "empty.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataFileError, match="is a directory"):
        read_raw_table(tmp_path / "dir.csv")


def test_blank_file_and_header_only(tmp_path: Path) -> None:
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(DataFileError, match="no header"):
        read_raw_table(tmp_path / "blank.csv")
    (tmp_path / "header.csv").write_text("InvoiceNo,StockCode,Quantity\n")
    with pytest.raises(DataValidationError, match="no data rows"):
        read_raw_table(tmp_path / "header.csv")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "x", "2"]) + "\n")
    table = read_raw_table(path)
    assert list(table.frame.columns) == ["a", "b", "c"]
    assert table.delimiter == delimiter
    assert table.frame["a"].tolist() == ["1"]  # CSV is read as text


def test_unsupported_delimiter_is_named(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("InvoiceNo:StockCode:Quantity\n1:2:3\n")
    with pytest.raises(DataFileError, match="delimited by ':'"):
        read_raw_table(path)


def test_ragged_rows_are_an_error_not_garbage(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("a,b,c\n1,2,3\n1,2,3,4,5\n")
    with pytest.raises(DataFileError, match="more fields than the header"):
        read_raw_table(path)


def test_latin1_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_bytes("a,b\n1,caf\xe9 \xa3\n".encode("latin-1"))
    assert read_raw_table(path).frame["b"].iloc[0] == "café £"


def test_empty_strings_only_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("a,b\nNA,\n")
    row = read_raw_table(path).frame.iloc[0]
    assert row["a"] == "NA"
    assert pd.isna(row["b"])


def test_truncated_parquet(tmp_path: Path, small_demo: pd.DataFrame) -> None:
    good = tmp_path / "good.parquet"
    small_demo.to_parquet(good)
    data = good.read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match="truncated"):
        read_raw_table(tmp_path / "cut.parquet")
    damaged = data[:4] + b"\0" * (len(data) - 8) + data[-4:]
    (tmp_path / "damaged.parquet").write_bytes(damaged)
    with pytest.raises(DataFileError, match="damaged"):
        read_raw_table(tmp_path / "damaged.parquet")


def test_parquet_index_is_reset(tmp_path: Path, small_demo: pd.DataFrame) -> None:
    path = tmp_path / "indexed.parquet"
    small_demo.head(5).set_index("InvoiceNo").to_parquet(path)
    frame = read_raw_table(path).frame
    assert isinstance(frame.index, pd.RangeIndex)


def _workbook(path: Path, frame: pd.DataFrame) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Year 2010-2011", index=False)
        pd.DataFrame({"note": ["exported by the shop"]}).to_excel(
            writer, sheet_name="Notes", index=False
        )


def test_workbook_sheets(tmp_path: Path, small_demo: pd.DataFrame) -> None:
    path = tmp_path / "shop.xlsx"
    _workbook(path, small_demo.head(10))
    assert list_sheets(path) == ["Year 2010-2011", "Notes"]
    with pytest.raises(DataFileError, match=r"2 sheets \('Year 2010-2011', 'Notes'\)"):
        read_raw_table(path)
    with pytest.raises(DataFileError, match="no sheet 'Sales'"):
        read_raw_table(path, sheet="Sales")
    table = read_raw_table(path, sheet="Year 2010-2011")
    assert len(table.frame) == 10
    assert table.locate(0) == "row 2 of sheet 'Year 2010-2011' of shop.xlsx"


def test_damaged_workbook(tmp_path: Path) -> None:
    path = tmp_path / "shop.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip archive")
    with pytest.raises(DataFileError, match="damaged"):
        read_raw_table(path)
