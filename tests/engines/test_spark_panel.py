"""The panel built on Spark equals the local builder's, on PySpark ``local[2]``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from glocal.config import Settings
from glocal.config.features import FeatureSettings
from glocal.core.errors import DataValidationError
from glocal.data import clean_transactions, read_transactions
from glocal.data.demo import generate_demo_transactions
from glocal.engines import spark_panel_job
from glocal.engines.spark_panel import build_panel_spark, panel_contract
from glocal.features import build_panel_and_latest
from tests.engines.conftest import said, spark_submit

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Cleaned demo transactions of 120 customers (returns, cancellations, countries)."""
    raw_file = tmp_path_factory.mktemp("raw") / "demo.parquet"
    generate_demo_transactions(n_customers=120, seed=5).to_parquet(raw_file)
    settings = Settings()
    return clean_transactions(read_transactions(raw_file, settings.columns), settings.cleaning)[0]


def _read(spark: Any, frame: pd.DataFrame, path: Path) -> Any:
    frame.to_parquet(path)
    return spark.read.parquet(str(path))


def _assert_same_panels(local: pd.DataFrame, built: pd.DataFrame) -> None:
    assert len(local) > 0
    pd.testing.assert_frame_equal(built, local, check_exact=True)


@pytest.fixture
def nanos(spark: Any) -> Any:
    """Read pandas' nanosecond timestamps as integers, as the glocal sessions do."""
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    yield
    spark.conf.unset("spark.sql.legacy.parquet.nanosAsLong")


@pytest.mark.usefixtures("nanos")
def test_the_spark_panel_equals_the_local_panel_exactly(
    spark: Any, clean: pd.DataFrame, tmp_path: Path
) -> None:
    settings = FeatureSettings()
    assert str(clean["timestamp"].dtype) == "datetime64[ns]"  # as `glocal ingest` writes it
    built = build_panel_spark(_read(spark, clean, tmp_path / "tx.parquet"), settings, buckets=3)
    panel, latest = build_panel_and_latest(clean, settings)
    assert panel["baseline_btyd"].gt(0).any() and panel["country"].notna().all()
    _assert_same_panels(panel, built.to_pandas(built.panel))
    _assert_same_panels(latest, built.to_pandas(built.latest))


def test_cutoff_bounds_without_btyd_or_country_and_with_timestamps_equal_too(
    spark: Any, clean: pd.DataFrame, tmp_path: Path
) -> None:
    settings = FeatureSettings(
        btyd=False,
        horizon_days=14,
        first_cutoff=dt.date(2011, 3, 1),
        last_cutoff=dt.date(2011, 9, 1),
    )
    plain = clean.drop(columns="country").astype({"timestamp": "datetime64[us]"})
    transactions = _read(spark, plain, tmp_path / "tx.parquet")
    assert "timestamp" in str(transactions.schema["timestamp"].dataType).lower()
    built = build_panel_spark(transactions, settings, buckets=2)
    panel, latest = build_panel_and_latest(plain, settings)
    assert "baseline_btyd" not in panel.columns and "country" not in panel.columns
    assert built.countries is None
    spark_panel, spark_latest = built.collect()  # both in one job
    _assert_same_panels(panel, spark_panel)
    _assert_same_panels(latest, spark_latest)


@pytest.mark.usefixtures("nanos")
def test_a_missing_column_is_named(spark: Any, clean: pd.DataFrame, tmp_path: Path) -> None:
    transactions = _read(spark, clean.drop(columns="stock_code"), tmp_path / "tx.parquet")
    with pytest.raises(DataValidationError, match="stock_code"):
        build_panel_spark(transactions, FeatureSettings())


@pytest.mark.usefixtures("nanos")
def test_empty_values_and_text_numbers_are_named(
    spark: Any, clean: pd.DataFrame, tmp_path: Path
) -> None:
    holes = clean.astype({"amount": "float64"})
    holes.loc[holes.index[:3], "amount"] = float("nan")
    with pytest.raises(DataValidationError, match=r"'amount' has 3 empty"):
        build_panel_spark(_read(spark, holes, tmp_path / "holes.parquet"), FeatureSettings())
    text = clean.astype({"quantity": str})
    with pytest.raises(DataValidationError, match=r"'quantity' must be numeric"):
        build_panel_spark(_read(spark, text, tmp_path / "text.parquet"), FeatureSettings())


@pytest.mark.usefixtures("nanos")
def test_transactions_without_a_purchase_are_refused(
    spark: Any, clean: pd.DataFrame, tmp_path: Path
) -> None:
    returns = clean.loc[clean["is_cancellation"]]
    assert len(returns) > 0
    with pytest.raises(DataValidationError, match="no purchase"):
        build_panel_spark(_read(spark, returns, tmp_path / "tx.parquet"), FeatureSettings())


def test_the_spark_submit_job_writes_the_local_panel(clean: pd.DataFrame, tmp_path: Path) -> None:
    tx_file, output = tmp_path / "transactions.parquet", tmp_path / "out"
    clean.to_parquet(tx_file)
    config = tmp_path / "settings.yaml"
    config.write_text("features:\n  horizon_days: 21\n", encoding="utf-8")
    args = ["--transactions", str(tx_file), "--output", str(output), "--config", str(config)]
    done = spark_submit(spark_panel_job.__file__, *args)
    assert done.returncode == 0, said(done)
    panel, latest = build_panel_and_latest(clean, FeatureSettings(horizon_days=21))
    countries = list(panel["country"].cat.categories)
    _assert_same_panels(panel, panel_contract(pd.read_parquet(output / "panel"), countries))
    _assert_same_panels(latest, panel_contract(pd.read_parquet(output / "latest"), countries))

    again = spark_submit(spark_panel_job.__file__, *args)
    assert again.returncode == 2 and "never overwritten" in said(again)


def test_the_spark_submit_job_names_a_missing_column(clean: pd.DataFrame, tmp_path: Path) -> None:
    tx_file = tmp_path / "transactions.parquet"
    clean.drop(columns="invoice").to_parquet(tx_file)
    done = spark_submit(
        spark_panel_job.__file__, "--transactions", str(tx_file), "--output", str(tmp_path / "o")
    )
    assert done.returncode == 2
    assert "error:" in said(done) and "invoice" in said(done) and "Traceback" not in said(done)
    assert not (tmp_path / "o").exists()


@pytest.mark.realdata
@pytest.mark.usefixtures("nanos")
def test_the_real_datas_panel_is_the_same_on_spark(
    spark: Any, real_data_path: Path, tmp_path: Path
) -> None:
    settings = Settings()
    raw = read_transactions(real_data_path, settings.columns)
    transactions = clean_transactions(raw, settings.cleaning)[0]
    built = build_panel_spark(
        _read(spark, transactions, tmp_path / "tx.parquet"), settings.features
    )
    panel, latest = build_panel_and_latest(transactions, settings.features)
    assert len(panel) > 100_000
    _assert_same_panels(panel, built.to_pandas(built.panel))
    _assert_same_panels(latest, built.to_pandas(built.latest))
