"""Reading a transaction file (CSV, Parquet or XLSX) into a table of its own columns.

This module knows file formats, not transactions: it returns the columns exactly as the
file names them, and turns every way a file can be unreadable into a
:class:`~glocal.core.errors.DataFileError` that names the file and says what to do.
CSV files are read as text (every column a string), so that codes such as ``00123`` keep
their leading zeros and values are parsed in one place, :mod:`glocal.data.readers`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pandas as pd
from python_calamine import CalamineError

from glocal.core.errors import DataFileError, DataValidationError
from glocal.core.logging import get_logger

__all__ = [
    "FileFormat",
    "RawTable",
    "check_file",
    "choose_sheet",
    "detect_format",
    "list_sheets",
    "read_raw_table",
]

FileFormat = Literal["csv", "parquet", "xlsx"]

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
_PARQUET_MAGIC = b"PAR1"

_log = get_logger(__name__)


@dataclass(frozen=True)
class RawTable:
    """A file's rows with the file's own column names, and how it was read.

    Attributes:
        frame: the rows; CSV columns are all strings, Parquet and XLSX keep their types.
        path: the file it came from.
        format: ``"csv"``, ``"parquet"`` or ``"xlsx"``.
        sheet: the worksheet read from an XLSX workbook, else ``None``.
        delimiter: the field delimiter of a CSV file, else ``None``.

    """

    frame: pd.DataFrame
    path: Path
    format: FileFormat
    sheet: str | None = None
    delimiter: str | None = None

    @property
    def decimal_comma(self) -> bool:
        """Whether numbers may use a decimal comma (``;``-delimited CSV, the European form)."""
        return self.delimiter == ";"

    def locate(self, position: int) -> str:
        """Describe the 0-based data row ``position`` the way a user finds it in the file."""
        data_row = position + 1
        if self.format == "csv":
            return f"line {data_row + 1} of {self.path.name} (data row {data_row})"
        if self.format == "xlsx":
            return f"row {data_row + 1} of sheet {self.sheet!r} of {self.path.name}"
        return f"data row {data_row} of {self.path.name} (1-based, header excluded)"


def detect_format(path: Path) -> FileFormat:
    """Return the format of ``path`` from its extension.

    Raises:
        DataFileError: the extension is not one glocal reads.

    """
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    hint = " Open it in Excel and save it as .xlsx or .csv." if suffix == ".xls" else ""
    raise DataFileError(
        f"cannot read {path}: the extension {suffix or '(none)'!r} is not supported. glocal "
        f"reads CSV (.csv, .tsv, .txt), Parquet (.parquet, .pq) and Excel (.xlsx) files; "
        f"convert the file to one of these or rename it if its extension is wrong.{hint}"
    )


def check_file(path: Path) -> None:
    """Raise a :class:`DataFileError` unless ``path`` is an existing, non-empty file."""
    if not path.exists():
        raise DataFileError(
            f"the file {path} does not exist. Check the path (it is relative to the current "
            f"directory, {Path.cwd()})."
        )
    if not path.is_file():
        raise DataFileError(f"{path} is a directory, not a file; pass the transaction file.")
    if path.stat().st_size == 0:
        raise DataFileError(
            f"the file {path} is empty (0 bytes). It may not have finished downloading or "
            "copying; fetch it again."
        )


def _sniff_delimiter(path: Path) -> str:
    with path.open("rb") as handle:
        first_line = handle.readline(1 << 16).decode("latin-1")
    counts = {delimiter: first_line.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    if counts[best] == 0:
        stripped = first_line.strip()
        others = sorted({c for c in stripped if not c.isalnum() and c not in " _-\"'"})
        if others:
            raise DataFileError(
                f"{path.name} has a single column whose header is {stripped[:80]!r}; it looks "
                f"like it is delimited by {others[0]!r}, which glocal does not read. Save it "
                "with ',' (or ';', tab or '|') between fields."
            )
        return ","
    if best != ",":
        _log.info("reading %s as %s-delimited", path.name, _DELIMITER_NAMES[best])
    return best


def _check_unique_names(names: list[object], where: str) -> None:
    """Refuse a header that names a column twice (pandas would rename the second copy)."""
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        positions.setdefault(str(name).strip(), []).append(position)
    repeated = {name: places for name, places in positions.items() if len(places) > 1}
    if repeated:
        details = "; ".join(
            f"{name!r} at positions {', '.join(map(str, places))}"
            for name, places in repeated.items()
        )
        raise DataValidationError(
            f"{where} names the same column more than once: {details} (counting columns "
            "from 1). glocal would not know which copy to use; rename or remove the extra "
            "copies and ingest it again."
        )


def _read_csv(path: Path) -> RawTable:
    delimiter = _sniff_delimiter(path)
    frame: pd.DataFrame | None = None
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            # Only empty fields are missing: "NA" is a valid stock code or country code.
            frame = pd.read_csv(
                path,
                sep=delimiter,
                dtype=str,
                encoding=encoding,
                keep_default_na=False,
                na_values=[""],
            )
            break
        except UnicodeDecodeError:
            _log.info("%s is not UTF-8; reading it as Latin-1", path.name)
        except pd.errors.EmptyDataError:
            raise DataFileError(
                f"{path} holds no header and no rows (only blank space). Export the "
                "transactions again, with a header line."
            ) from None
        except pd.errors.ParserError as exc:
            raise DataFileError(
                f"cannot parse {path} as {_DELIMITER_NAMES[delimiter]}-delimited CSV: {exc}. "
                "A line has more fields than the header, usually an unquoted delimiter "
                "inside a description or a mix of delimiters; quote such fields or "
                "re-export the file."
            ) from None
    assert frame is not None  # latin-1 decodes any byte sequence
    header = pd.read_csv(
        path, sep=delimiter, header=None, nrows=1, dtype=str, encoding="latin-1"
    ).iloc[0]
    _check_unique_names(header.tolist(), path.name)
    return RawTable(frame=frame, path=path, format="csv", delimiter=delimiter)


def _read_parquet(path: Path) -> RawTable:
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(-4, 2)
        tail = handle.read(4)
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        where = "start" if head != _PARQUET_MAGIC else "end"
        raise DataFileError(
            f"{path} is not a complete Parquet file: the Parquet marker is missing at its "
            f"{where}, so the file is truncated or is not Parquet. Copy or download it again, "
            "or give it the extension of its real format."
        )
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataFileError(
            f"cannot read {path} as Parquet ({exc}); the file is damaged or truncated. Copy "
            "or download it again."
        ) from None
    _check_unique_names(list(frame.columns), path.name)
    return RawTable(frame=frame, path=path, format="parquet")


def list_sheets(path: Path) -> list[str]:
    """Return the worksheet names of the XLSX workbook at ``path``, in workbook order.

    Raises:
        DataFileError: the file is missing, empty or not a readable workbook.

    """
    check_file(path)
    try:
        with pd.ExcelFile(path, engine="calamine") as workbook:
            return [str(name) for name in workbook.sheet_names]
    except (zipfile.BadZipFile, CalamineError, OSError, KeyError, ValueError) as exc:
        raise DataFileError(
            f"cannot open {path} as an Excel workbook ({exc}); it is damaged, truncated or "
            "not an .xlsx file. Open and save it again in Excel, or export it as CSV."
        ) from None


def choose_sheet(path: Path, sheet: str | None) -> tuple[str, list[str]]:
    """Return the worksheet to read from the workbook at ``path``, and all its sheets.

    Raises:
        DataFileError: ``sheet`` is not in the workbook, or it is ``None`` and the workbook
            has several sheets (the message lists them).

    """
    sheets = list_sheets(path)
    listing = ", ".join(repr(name) for name in sheets)
    if sheet is None:
        if len(sheets) != 1:
            raise DataFileError(
                f"the workbook {path.name} has {len(sheets)} sheets ({listing}); choose the "
                "one holding the transactions with --sheet NAME."
            )
        return sheets[0], sheets
    if sheet not in sheets:
        raise DataFileError(
            f"the workbook {path.name} has no sheet {sheet!r}; its sheets are {listing}. "
            "Pass one of them with --sheet."
        )
    return sheet, sheets


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    sheet, sheets = choose_sheet(path, sheet)
    listing = ", ".join(repr(name) for name in sheets)
    # calamine (Rust) reads the 541,909-row UCI workbook about 20x faster than openpyxl
    frame = pd.read_excel(path, sheet_name=sheet, engine="calamine")
    if frame.columns.empty:
        raise DataValidationError(
            f"sheet {sheet!r} of {path.name} is empty; choose the sheet holding the "
            f"transactions with --sheet (sheets: {listing})."
        )
    header = pd.read_excel(path, sheet_name=sheet, engine="calamine", header=None, nrows=1)
    _check_unique_names(header.iloc[0].tolist(), f"sheet {sheet!r} of {path.name}")
    return RawTable(frame=frame, path=path, format="xlsx", sheet=sheet)


def read_raw_table(path: Path, sheet: str | None = None) -> RawTable:
    """Read every row of a CSV, Parquet or XLSX file, keeping the file's column names.

    Args:
        path: the file; its extension selects the format.
        sheet: the worksheet of an XLSX workbook; required when the workbook has several.

    Raises:
        DataFileError: the file is missing, empty, damaged or in an unsupported format.
        DataValidationError: the file has a header but no data rows.

    """
    file_format = detect_format(path)
    check_file(path)
    if sheet is not None and file_format != "xlsx":
        _log.warning("--sheet %r ignored: %s is not an Excel workbook", sheet, path.name)
    if file_format == "csv":
        table = _read_csv(path)
    elif file_format == "parquet":
        table = _read_parquet(path)
    else:
        table = _read_xlsx(path, sheet)
    if not isinstance(table.frame.index, pd.RangeIndex) or table.frame.index.start != 0:
        table = replace(table, frame=table.frame.reset_index(drop=True))
    if len(table.frame) == 0:
        where = f"sheet {table.sheet!r} of {path.name}" if table.sheet else str(path)
        raise DataValidationError(
            f"{where} has a header ({len(table.frame.columns)} columns) but no data rows. "
            "Export the transactions again, or point glocal at the file that holds them."
        )
    return table
