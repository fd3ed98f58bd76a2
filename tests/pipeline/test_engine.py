"""The engine setting: the in-process default, a clear error without PySpark, and a
`glocal run --engine spark` that trains the same models as the local engine."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config import Settings, Workspace
from glocal.core.errors import ConfigError, DataFileError
from glocal.data import DataVersion, latest_data_version
from glocal.data.versions import CLEAN_FILE
from glocal.features import build_panel_and_latest, read_current_panel, read_panel
from glocal.models import HybridModel
from glocal.models.persistence import load_hybrid
from glocal.pipeline import PREDICTION_FILE_COLUMNS, RunSummary, predict_batch, run_pipeline
from glocal.pipeline.engine import bank_fitter, fingerprints_on_spark, panel_on_spark
from glocal.pipeline.fingerprints import entity_fingerprints
from glocal.pipeline.steps import transactions_as_of
from glocal.registry import Registry, verify_bundle
from tests.pipeline.conftest import append_orders

Run = tuple[Workspace, RunSummary, Path]
GLOCAL = [sys.executable, "-m", "glocal"]


def test_the_local_engine_uses_the_in_process_fit() -> None:
    with bank_fitter(Settings()) as fitter:
        assert fitter is None


def test_spark_without_pyspark_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Failure injection: this interpreter has PySpark, so pretend it has not.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name)
    )
    settings = Settings.model_validate({"engine": "spark"})
    with (
        pytest.raises(ConfigError, match=r"glocal\[spark\].*engine: local"),
        bank_fitter(settings),
    ):
        pass


def test_an_unknown_engine_is_rejected_by_the_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glocal", "run", "-w", str(tmp_path), "--engine", "dask"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--engine dask" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def _bundle_model(workspace: Workspace, run_id: str) -> tuple[Path, HybridModel]:
    with Registry.open(None, workspace) as registry:
        bundle = registry.resolve_bundle(run_id)
    return bundle, load_hybrid(bundle)


@pytest.mark.spark
def test_glocal_run_on_spark_trains_the_local_engines_models(
    first_run: Run, tmp_path: Path
) -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    local_workspace, local_summary, data = first_run
    root = tmp_path / "ws"
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    Workspace(root).init()
    done = subprocess.run(
        [*GLOCAL, "run", "-w", str(root), "--data", str(data), "--engine", "spark", "--json"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workspace = Workspace(root)
    with Registry.open(None, workspace) as registry:
        run_id = str(registry.alias("production"))
    bundle, remote = _bundle_model(workspace, run_id)
    verify_bundle(bundle)  # the same bundle format
    _, local = _bundle_model(local_workspace, str(local_summary.run_id))
    # labels exactly; statistics to a relative 1e-8 (batched algebra sums in its own order)
    pd.testing.assert_frame_equal(
        remote.decisions_, local.decisions_, check_exact=False, rtol=1e-8, atol=0
    )
    for kind, bank in local.candidates_.banks_.items():
        got, expected = remote.candidates_.banks_[kind].to_frame(), bank.to_frame()
        assert got["entity_id"].tolist() == expected["entity_id"].tolist()
        numbers = [c for c in expected.columns if c != "entity_id"]
        np.testing.assert_allclose(
            got[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=1e-8, atol=0
        )
    # the panel was built by Spark SQL: the local engine's panel, exactly
    pd.testing.assert_frame_equal(
        read_panel(read_current_panel(workspace).files.panel),
        read_panel(read_current_panel(local_workspace).files.panel),
        check_exact=True,
    )
    # the run's predict step scored on Spark, the bundle broadcast: the same daily file
    [scored] = (workspace.predictions_dir / "daily").glob("*.parquet")
    reference = pd.read_parquet(local_workspace.predictions_dir / "daily" / scored.name)
    written = pd.read_parquet(scored)
    for column in ("entity_id", "cutoff", "source"):
        assert written[column].tolist() == reference[column].tolist()
    assert set(written["run_id"]) == {run_id}
    for column in ("prediction", "global_prediction", "local_prediction"):
        np.testing.assert_allclose(written[column], reference[column], rtol=1e-8, equal_nan=True)


@pytest.mark.spark
def test_glocal_predict_on_spark_writes_the_local_engines_file(after_first_run: Run) -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    workspace, _, _ = after_first_run
    expected = predict_batch(workspace, workspace.settings(), dt.date(2030, 1, 1)).frame
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    command = [*GLOCAL, "predict", "-w", str(workspace.root), "--engine", "spark"]
    done = subprocess.run(
        [*command, "--date", "2030-01-02"], capture_output=True, text=True, env=environment
    )
    assert done.returncode == 0, done.stdout + done.stderr
    written = pd.read_parquet(workspace.predictions_dir / "batch" / "2030-01-02.parquet")
    assert list(written.columns) == list(PREDICTION_FILE_COLUMNS)
    for column in ("entity_id", "source", "run_id"):
        assert written[column].astype(str).tolist() == expected[column].astype(str).tolist()
    assert (written["cutoff"] == expected["cutoff"]).all()
    for column in ("prediction", "global_prediction", "local_prediction"):
        np.testing.assert_allclose(written[column], expected[column], rtol=1e-12, equal_nan=True)


@pytest.mark.spark
def test_an_incremental_run_on_spark_retrains_as_the_local_engine(
    after_first_run: Run, tmp_path: Path
) -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    workspace, first, data = after_first_run
    spark_root = tmp_path / "spark-ws"
    shutil.copytree(workspace.root, spark_root)
    decided = _bundle_model(workspace, str(first.run_id))[1].decisions_
    customers = sorted(decided.loc[decided["n_train"] >= 8, "entity_id"].astype(str))[:4]
    updated = append_orders(data, tmp_path / "day2.parquet", [int(c) for c in customers])
    local = run_pipeline(workspace, workspace.settings(), data=updated)
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    command = [*GLOCAL, "run", "-w", str(spark_root), "--data", str(updated), "--engine", "spark"]
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert local.mode == "incremental"
    spark_workspace = Workspace(spark_root)
    with Registry.open(None, spark_workspace) as registry:
        run_id = str(registry.alias("production"))
        assert registry.run(run_id).summary["counts"]["retrained"] == len(customers)
    expected = _bundle_model(workspace, str(local.run_id))[1]
    got = _bundle_model(spark_workspace, run_id)[1]
    pd.testing.assert_frame_equal(
        got.decisions_, expected.decisions_, check_exact=False, rtol=1e-8, atol=0
    )


@dataclass(frozen=True)
class _CleanData:
    """The first run's workspace, data version and cleaned file, and Spark settings."""

    workspace: Workspace
    version: DataVersion
    clean_file: Path
    settings: Settings


@pytest.fixture
def clean_data(first_run: Run) -> _CleanData:
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    workspace = first_run[0]
    version = latest_data_version(workspace)
    return _CleanData(
        workspace,
        version,
        workspace.processed_dir(version.version) / CLEAN_FILE,
        Settings.model_validate({"engine": "spark", "spark": {"master": "local[2]"}}),
    )


@pytest.mark.spark
def test_fingerprints_on_spark_equal_the_local_ones(clean_data: _CleanData) -> None:
    workspace, version = clean_data.workspace, clean_data.version
    settings, clean_file = clean_data.settings, clean_data.clean_file
    for as_of in (None, dt.date(2011, 6, 1)):
        local = entity_fingerprints(transactions_as_of(workspace, version, as_of))
        got = fingerprints_on_spark(settings, clean_file, as_of)
        assert len(local) > 0 and (as_of is None or len(local) < 150)
        pd.testing.assert_frame_equal(got, local, check_exact=True)


@pytest.mark.spark
def test_an_as_of_panel_on_spark_equals_the_local_one(clean_data: _CleanData) -> None:
    workspace, version = clean_data.workspace, clean_data.version
    settings, clean_file = clean_data.settings, clean_data.clean_file
    as_of = dt.date(2011, 6, 1)
    panel, latest = panel_on_spark(settings, clean_file, as_of)
    expected = build_panel_and_latest(
        transactions_as_of(workspace, version, as_of), settings.features
    )
    assert panel["cutoff"].max() < pd.Timestamp(as_of)
    pd.testing.assert_frame_equal(panel, expected[0], check_exact=True)
    pd.testing.assert_frame_equal(latest, expected[1], check_exact=True)


_SHARED_SESSION_SCRIPT = """
from glocal.config import Settings
from glocal.pipeline.engine import shared_spark_session, spark_for
settings = Settings.model_validate({"engine": "spark", "spark": {"master": "local[1]"}})
with shared_spark_session():
    with spark_for(settings, "first step") as first:
        pass
    with spark_for(settings, "second step") as second:
        print("same", first is second or first._jsparkSession.equals(second._jsparkSession))
        print("running after a step", not first.sparkContext._jsc.sc().isStopped())
print("stopped at the end", first.sparkContext._jsc is None)
"""


@pytest.mark.spark
def test_the_steps_of_a_run_share_one_spark_session_stopped_at_its_end() -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    done = subprocess.run(  # a new process: no session of another test is active there
        [sys.executable, "-c", _SHARED_SESSION_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == [
        "same True",
        "running after a step True",
        "stopped at the end True",
    ], done.stdout


@pytest.mark.spark
def test_a_damaged_transactions_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    damaged = tmp_path / "processed" / "v0007" / CLEAN_FILE
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"PAR1 this is not a Parquet file")
    settings = Settings.model_validate({"engine": "spark", "spark": {"master": "local[1]"}})
    for read in (panel_on_spark, fingerprints_on_spark):
        with pytest.raises(DataFileError, match=r"data version v0007 .*ingest the source"):
            read(settings, damaged, None)
