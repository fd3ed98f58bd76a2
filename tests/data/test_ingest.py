from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from glocal.config import Settings, Workspace
from glocal.data import (
    clean_transactions,
    generate_demo_transactions,
    ingest_file,
    latest_data_version,
    load_clean_transactions,
    read_transactions,
    write_demo_file,
)
from glocal.data.digests import DIGESTS_FILE, load_entity_digests
from glocal.data.versions import CLEAN_FILE, REPORT_FILE

REAL_COUNTS = {
    "missing_entity": 135_080,
    "non_product_code": 1_920,
    "non_positive_price": 33,
    "duplicate": 5_220,
    "extreme_order_cancel_pair": 4,
    "cancellation": 8_504,
}


def _tree(workspace: Workspace) -> list[str]:
    data = workspace.root / "data"
    return sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())


def test_demo_file_end_to_end(workspace: Workspace) -> None:
    path = write_demo_file(workspace, seed=5, n_customers=60)
    result = ingest_file(path, workspace, Settings())
    record = result.version
    assert not result.already_present
    assert record.rows == len(pd.read_parquet(path))
    assert record.entities == 60
    assert record.format == "parquet"
    assert record.column_mapping["entity"] == "CustomerID"
    assert record.cleaning == result.report
    assert record.date_min < record.date_max
    assert result.processed_dir == workspace.processed_dir(record.version)
    assert sorted(p.name for p in result.processed_dir.iterdir()) == [
        REPORT_FILE,
        DIGESTS_FILE,
        CLEAN_FILE,
    ]
    stored = json.loads((workspace.versions_dir / f"{record.version}.json").read_text())
    assert stored["file_sha256"].startswith(record.version)
    assert stored["cleaning"]["rows_out"] == record.rows_clean
    assert latest_data_version(workspace) == record
    clean = load_clean_transactions(workspace)
    assert len(clean) == record.rows_clean
    assert clean["entity_id"].nunique() == record.entities_clean
    pd.testing.assert_frame_equal(clean, load_clean_transactions(workspace, record.version))
    expected, _ = clean_transactions(
        read_transactions(path, Settings().columns), Settings().cleaning
    )
    pd.testing.assert_frame_equal(clean, expected)


def test_reingest_is_a_no_op(workspace: Workspace) -> None:
    path = write_demo_file(workspace, seed=5, n_customers=30)
    first = ingest_file(path, workspace, Settings())
    before = _tree(workspace)
    second = ingest_file(path, workspace, Settings())
    assert second.already_present
    assert second.version == first.version
    assert _tree(workspace) == before


def test_on_new_data_is_called_only_for_a_new_file(workspace: Workspace) -> None:
    path = write_demo_file(workspace, seed=5, n_customers=20)
    calls: list[int] = []
    ingest_file(path, workspace, Settings(), on_new_data=lambda: calls.append(1))
    assert calls == [1]
    ingest_file(path, workspace, Settings(), on_new_data=lambda: calls.append(2))
    assert calls == [1]  # already a version: nothing read, nothing started


def test_a_new_file_is_a_new_latest_version(workspace: Workspace, tmp_path: Path) -> None:
    first = ingest_file(write_demo_file(workspace, seed=1, n_customers=20), workspace, Settings())
    other = tmp_path / "other.parquet"
    generate_demo_transactions(n_customers=20, seed=2).to_parquet(other)
    second = ingest_file(other, workspace, Settings())
    assert second.version.version != first.version.version
    assert latest_data_version(workspace).version == second.version.version


def _broken_writer(table: object, target: Path, **kwargs: object) -> None:
    Path(target).write_bytes(b"PAR1 half a file")
    raise OSError("disk full")


@pytest.mark.parametrize("in_background", [False, True])
def test_failed_write_leaves_nothing(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, in_background: bool
) -> None:
    path = write_demo_file(workspace, seed=5, n_customers=20)
    monkeypatch.setattr(pq, "write_table", _broken_writer)
    with pytest.raises(OSError, match="disk full"):
        result = ingest_file(path, workspace, Settings(), store_in_background=in_background)
        assert result.storing is not None
        result.storing.wait()
    assert list((workspace.root / "data" / "processed").iterdir()) == []
    assert list(workspace.versions_dir.iterdir()) == []
    monkeypatch.undo()
    assert not ingest_file(path, workspace, Settings()).already_present


def test_storing_in_background_writes_the_same_version(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_demo_file(workspace, seed=5, n_customers=40)
    at_once = ingest_file(path, workspace, Settings())
    other = Workspace(tmp_path / "other")
    other.init()
    result = ingest_file(path, other, Settings(), store_in_background=True)
    assert at_once.storing is None
    assert result.storing is not None
    result.storing.wait()
    assert result.version.model_dump(exclude={"ingested_at"}) == at_once.version.model_dump(
        exclude={"ingested_at"}
    )
    for name in (CLEAN_FILE, DIGESTS_FILE, REPORT_FILE):
        assert (result.processed_dir / name).read_bytes() == (
            at_once.processed_dir / name
        ).read_bytes(), name
    assert latest_data_version(other).version == result.version.version
    # what the caller got in memory is what a later run reads back
    assert result.transactions is not None
    assert result.digests is not None
    pd.testing.assert_frame_equal(
        result.transactions, load_clean_transactions(other, result.version.version)
    )
    stored = load_entity_digests(other, result.version.version)
    assert stored is not None
    pd.testing.assert_frame_equal(result.digests, stored)


def test_leftovers_without_a_record_are_redone(workspace: Workspace) -> None:
    path = write_demo_file(workspace, seed=5, n_customers=20)
    result = ingest_file(path, workspace, Settings())
    (workspace.versions_dir / f"{result.version.version}.json").unlink()
    again = ingest_file(path, workspace, Settings())
    assert not again.already_present
    (again.processed_dir / CLEAN_FILE).unlink()
    assert not ingest_file(path, workspace, Settings()).already_present


def test_each_sheet_of_a_workbook_is_its_own_version(
    workspace: Workspace, tmp_path: Path, small_demo: pd.DataFrame
) -> None:
    path = tmp_path / "shop.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        small_demo.head(40).to_excel(writer, sheet_name="2010", index=False)
        small_demo.tail(40).to_excel(writer, sheet_name="2011", index=False)
    first = ingest_file(path, workspace, Settings(), sheet="2010")
    second = ingest_file(path, workspace, Settings(), sheet="2011")
    assert first.version.version != second.version.version
    assert (first.version.sheet, first.version.rows) == ("2010", 40)
    assert ingest_file(path, workspace, Settings(), sheet="2010").already_present


@pytest.mark.realdata
def test_real_parquet(workspace: Workspace, real_data_path: Path) -> None:
    result = ingest_file(real_data_path, workspace, Settings())
    record = result.version
    assert (record.rows, record.entities) == (541_909, 4_372)
    assert (record.rows_clean, record.entities_clean) == (399_652, 4_361)
    assert {o.rule: o.rows for o in result.report.outcomes} == REAL_COUNTS
    assert str(record.date_min) == "2010-12-01 08:26:00"
    assert str(record.date_max) == "2011-12-09 12:50:00"


def _real_copy(real_data_path: Path, target: Path) -> Path:
    frame = pd.read_parquet(real_data_path)
    if target.suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_excel(target, index=False, sheet_name="Online Retail", engine="xlsxwriter")
    return target


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_real_data_in_other_formats(
    workspace: Workspace, real_data_path: Path, tmp_path: Path, suffix: str
) -> None:
    path = _real_copy(real_data_path, tmp_path / f"online_retail{suffix}")
    result = ingest_file(path, workspace, Settings())
    assert (result.version.rows, result.version.entities) == (541_909, 4_372)
    assert {o.rule: o.rows for o in result.report.outcomes} == REAL_COUNTS
    reference = ingest_file(real_data_path, workspace, Settings())
    pd.testing.assert_frame_equal(
        load_clean_transactions(workspace, result.version.version),
        load_clean_transactions(workspace, reference.version.version),
    )
