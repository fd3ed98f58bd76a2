from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.data import generate_demo_transactions, write_demo_file

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
GOOD_ROW = (
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"
)


def _ingest(
    workspace: Workspace, path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = main(["ingest", str(path), "--workspace", str(workspace.root), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_rejected(workspace: Workspace, code: int, out: str, err: str) -> str:
    assert code == 2
    assert "Traceback" not in out + err
    assert err.startswith("error: ")
    assert list((workspace.root / "data" / "processed").iterdir()) == []
    assert list(workspace.versions_dir.iterdir()) == []
    return " ".join(err.split())  # undo any line wrapping


def _csv(tmp_path: Path, lines: list[str], name: str = "shop.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_ingest_prints_version_counts_and_report(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_demo_file(workspace, seed=4, n_customers=25)
    code, out, err = _ingest(workspace, path, capsys)
    assert code == 0, err
    assert "Ingested" in out
    assert "data version" in out
    assert "customers" in out
    assert "date range" in out
    for rule in ("missing_entity", "non_product_code", "duplicate", "cancellation"):
        assert rule in out
    code, out, _ = _ingest(workspace, path, capsys)
    assert code == 0
    assert "already present" in out
    assert "nothing to do" in out


def test_semicolon_csv_with_decimal_commas_is_read(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "shop.csv"
    generate_demo_transactions(n_customers=10, seed=2, days=60).to_csv(
        path, sep=";", decimal=",", index=False
    )
    code, out, err = _ingest(workspace, path, capsys)
    assert code == 0, err
    assert "Ingested" in out


def test_workbook_sheet_is_chosen_with_option(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "shop.xlsx"
    demo = generate_demo_transactions(n_customers=5, seed=2, days=30)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        demo.to_excel(writer, sheet_name="Transactions", index=False)
        demo.head(3).to_excel(writer, sheet_name="Sample", index=False)
    code, out, err = _ingest(workspace, path, capsys)
    message = _assert_rejected(workspace, code, out, err)
    assert "2 sheets ('Transactions', 'Sample')" in message
    assert "--sheet" in message
    code, out, err = _ingest(workspace, path, capsys, "--sheet", "Nope")
    assert "no sheet 'Nope'" in _assert_rejected(workspace, code, out, err)
    code, out, err = _ingest(workspace, path, capsys, "--sheet", "Transactions")
    assert code == 0, err
    assert f"{len(demo):,}" in out


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    """Each bad input: the file and the fragments its error message must contain."""
    parquet = tmp_path / "good.parquet"
    generate_demo_transactions(n_customers=5, seed=1, days=30).to_parquet(parquet)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(parquet.read_bytes()[:2000])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    no_customer = HEADER.replace(",CustomerID", ",Client")
    return {
        "missing file": (tmp_path / "nowhere.csv", ["nowhere.csv", "does not exist"]),
        "empty file": (empty, ["empty.csv", "empty (0 bytes)"]),
        "header only": (_csv(tmp_path, [HEADER], "header.csv"), ["header.csv", "no data rows"]),
        "wrong delimiter": (
            _csv(tmp_path, [HEADER.replace(",", ":"), GOOD_ROW.replace(",", ":")], "colon.csv"),
            ["colon.csv", "delimited by ':'"],
        ),
        "mixed delimiters": (
            _csv(tmp_path, [HEADER, GOOD_ROW, GOOD_ROW + ";x,y"], "mixed.csv"),
            ["mixed.csv", "more fields than the header"],
        ),
        "missing column": (
            _csv(tmp_path, [no_customer, GOOD_ROW], "nocustomer.csv"),
            ["nocustomer.csv", "'Client'", "'InvoiceNo'", "`columns.entity`", "settings.yaml"],
        ),
        "bad date": (
            _csv(tmp_path, [HEADER, GOOD_ROW, GOOD_ROW.replace("12/1/2010 8:26", "31/31/2010")]),
            ["'InvoiceDate'", "line 3 of shop.csv (data row 2)", "'31/31/2010'"],
        ),
        "bad quantity": (
            _csv(tmp_path, [HEADER, GOOD_ROW.replace(",6,", ",six,"), GOOD_ROW], "qty.csv"),
            ["'Quantity'", "line 2 of qty.csv (data row 1)", "'six'", "`columns.quantity`"],
        ),
        "bad price": (
            _csv(tmp_path, [HEADER, GOOD_ROW, GOOD_ROW.replace("2.55", "2.55 GBP")], "price.csv"),
            ["'UnitPrice'", "line 3 of price.csv (data row 2)", "'2.55 GBP'"],
        ),
        "no customer ids": (
            _csv(tmp_path, [HEADER, GOOD_ROW.replace("17850", "")], "guests.csv"),
            ["'CustomerID'", "guests.csv", "empty on every row", "`columns.entity`"],
        ),
        "duplicate column": (
            _csv(tmp_path, [HEADER + ",CustomerID", GOOD_ROW + ",17850"], "twice.csv"),
            ["twice.csv", "'CustomerID' at positions 7, 9", "rename or remove"],
        ),
        "truncated parquet": (truncated, ["truncated.parquet", "truncated"]),
        "unsupported extension": (
            _csv(tmp_path, [HEADER, GOOD_ROW], "shop.json"),
            ["shop.json", "'.json' is not supported", ".csv"],
        ),
    }


CASES = [
    "missing file",
    "empty file",
    "header only",
    "wrong delimiter",
    "mixed delimiters",
    "missing column",
    "bad date",
    "bad quantity",
    "bad price",
    "no customer ids",
    "duplicate column",
    "truncated parquet",
    "unsupported extension",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_clear_error(
    case: str, workspace: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, fragments = _bad_files(tmp_path)[case]
    code, out, err = _ingest(workspace, path, capsys)
    message = _assert_rejected(workspace, code, out, err)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


def test_uninitialised_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ingest", str(tmp_path / "x.csv"), "--workspace", str(tmp_path / "nowhere")])
    assert code == 2
    assert "glocal init" in capsys.readouterr().err
