"""Tests of generic panel mode: stores, diagnosis groups or products in the panel contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config.features import PanelSettings, SplitSettings
from glocal.core.errors import DataFileError, DataValidationError
from glocal.features import (
    categorical_columns,
    feature_columns,
    latest_rows,
    load_generic_panel,
    split_panel,
)

STORES = PanelSettings(
    mode="panel",
    entity_column="store",
    time_column="week",
    target_column="sales_next_4w",
    categorical_columns=["region"],
)


def store_panel(weeks: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for store, region in ((1, "north"), (2, "south"), (13, "north")):
        for week in pd.date_range("2023-01-02", periods=weeks, freq="7D"):
            rows.append(
                {
                    "store": store,
                    "week": week.date().isoformat(),
                    "region": region,
                    "footfall": int(rng.integers(100, 1000)),
                    "promo": bool(rng.integers(0, 2)),
                    "sales_next_4w": float(rng.normal(1000, 100)),
                }
            )
    frame = pd.DataFrame(rows)
    frame.loc[frame["week"] >= "2024-02-05", "sales_next_4w"] = np.nan  # the future
    return frame


@pytest.fixture(params=["csv", "parquet"])
def store_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"stores.{request.param}"
    frame = store_panel().sample(frac=1.0, random_state=1)  # any row order
    if request.param == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def test_store_panel_is_renamed_to_the_contract(store_file: Path):
    panel = load_generic_panel(store_file, STORES)
    assert list(panel.columns) == ["entity_id", "cutoff", "target", "region", "footfall", "promo"]
    assert panel["entity_id"].dtype == "str"
    assert sorted(panel["entity_id"].unique()) == ["1", "13", "2"]
    assert panel["cutoff"].dtype == "datetime64[us]"
    assert panel["target"].dtype == "float64"
    assert feature_columns(panel) == ["region", "footfall", "promo"]
    assert categorical_columns(panel) == ["region"]
    assert panel["footfall"].dtype == "float64" and panel["promo"].dtype == "float64"
    assert panel.equals(panel.sort_values(["entity_id", "cutoff"], ignore_index=True))
    assert panel["target"].isna().sum() == 3 * 3  # weeks from 2024-02-05 on


def test_store_panel_splits_and_has_a_latest_row_per_store(store_file: Path):
    panel = load_generic_panel(store_file, STORES)
    split = split_panel(panel, SplitSettings(validation_days=56, test_days=28), horizon_days=28)
    assert set(split.describe()["entities"]) == {3}
    latest = latest_rows(panel)
    assert latest["cutoff"].tolist() == [pd.Timestamp("2024-02-19")] * 3


def test_declared_feature_columns_select_a_subset(store_file: Path):
    settings = STORES.model_copy(
        update={"feature_columns": ["footfall"], "categorical_columns": []}
    )
    assert feature_columns(load_generic_panel(store_file, settings)) == ["footfall"]


def test_diagnosis_groups_with_string_ids(tmp_path: Path):
    path = tmp_path / "drg.csv"
    pd.DataFrame(
        {
            "drg": ["470", "470", "871"],
            "month": ["2020-01-01", "2020-02-01", "2020-01-01"],
            "admissions": [10, 12, 7],
            "cost_next_month": [1.0, np.nan, 2.0],
        }
    ).to_csv(path, index=False)
    settings = PanelSettings(
        mode="panel", entity_column="drg", time_column="month", target_column="cost_next_month"
    )
    panel = load_generic_panel(path, settings)
    assert panel["entity_id"].tolist() == ["470", "470", "871"]


def write(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    return path


def test_missing_declared_column_lists_found_columns_and_the_key(tmp_path: Path):
    path = write(store_panel().drop(columns="week"), tmp_path)
    with pytest.raises(DataValidationError) as caught:
        load_generic_panel(path, STORES)
    message = str(caught.value)
    assert "['week'] declared in panel.time_column are missing" in message
    assert "found columns: ['store', 'region', 'footfall', 'promo', 'sales_next_4w']" in message


def test_duplicate_entity_time_rows_are_shown(tmp_path: Path):
    frame = store_panel()
    path = write(pd.concat([frame, frame.iloc[[0, 5]]]), tmp_path)
    with pytest.raises(
        DataValidationError, match=r"4 rows that share.*\(1, 2023-01-02\), \(1, 2023-02-06\)"
    ):
        load_generic_panel(path, STORES)


def test_non_numeric_target_is_refused(tmp_path: Path):
    frame = store_panel()
    frame["sales_next_4w"] = frame["sales_next_4w"].astype(object)
    frame.loc[3, "sales_next_4w"] = "unknown"
    expected = (
        r"'sales_next_4w' \(panel.target_column\) holds non-numeric values, e.g. \['unknown'\]"
    )
    with pytest.raises(DataValidationError, match=expected):
        load_generic_panel(write(frame, tmp_path), STORES)


def test_empty_target_is_refused(tmp_path: Path):
    frame = store_panel().assign(sales_next_4w=np.nan)
    with pytest.raises(DataValidationError, match="has no value at all"):
        load_generic_panel(write(frame, tmp_path), STORES)


def test_text_feature_must_be_declared_categorical(tmp_path: Path):
    settings = STORES.model_copy(update={"categorical_columns": []})
    with pytest.raises(DataValidationError, match=r"list the column in panel\.categorical_columns"):
        load_generic_panel(write(store_panel(), tmp_path), settings)


def test_categorical_column_must_be_a_feature(tmp_path: Path):
    settings = STORES.model_copy(update={"feature_columns": ["footfall"]})
    with pytest.raises(DataValidationError, match=r"\['region'\], which are not feature columns"):
        load_generic_panel(write(store_panel(), tmp_path), settings)


def test_unreadable_times_are_refused(tmp_path: Path):
    frame = store_panel()
    frame.loc[0, "week"] = "next tuesday"
    with pytest.raises(DataValidationError, match="cannot be read as dates"):
        load_generic_panel(write(frame, tmp_path), STORES)


def test_missing_and_unsupported_files(tmp_path: Path):
    with pytest.raises(DataFileError, match="does not exist"):
        load_generic_panel(tmp_path / "nope.csv", STORES)
    (tmp_path / "panel.json").write_text("{}")
    with pytest.raises(DataFileError, match=r"reads \.csv and \.parquet"):
        load_generic_panel(tmp_path / "panel.json", STORES)
