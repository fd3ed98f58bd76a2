"""The spark-submit job, run by PySpark's own ``spark-submit`` on ``local[2]``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.data.synthetic import make_synthetic_panel
from glocal.engines import spark_job
from glocal.models.local_bank import fit_local_banks
from tests.engines.conftest import said, spark_submit

pytestmark = pytest.mark.spark

FEATURES = ["x0", "x1", "x2"]


def _submit(*args: str) -> subprocess.CompletedProcess[str]:
    return spark_submit(spark_job.__file__, *args)


@pytest.fixture(scope="module")
def panel_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame, _ = make_synthetic_panel(120, 24, 3, heterogeneity=2.0, noise=0.5, seed=3)
    frame = frame.assign(entity_id=frame["entity_id"].astype(str))
    path = tmp_path_factory.mktemp("spark_job") / "panel.parquet"
    frame.to_parquet(path, index=False)
    return path, frame


def test_spark_submit_writes_the_banks_the_local_fit_finds(
    panel_file: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = panel_file
    output = tmp_path / "banks"
    done = _submit("--panel", str(path), "--features", ",".join(FEATURES), "--output", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    written = pd.read_parquet(output).sort_values("entity_id", kind="stable")
    local = fit_local_banks(
        frame, {"target": frame["target"].to_numpy()}, feature_columns=FEATURES, n_jobs=1
    )["target"].to_frame()
    assert written["bank"].unique().tolist() == ["target"]
    assert written["entity_id"].tolist() == local["entity_id"].astype(str).tolist()
    numbers = [c for c in local.columns if c != "entity_id"]
    np.testing.assert_allclose(
        written[numbers].to_numpy(float), local[numbers].to_numpy(float), rtol=1e-8, atol=1e-12
    )
    again = _submit("--panel", str(path), "--features", "x0", "--output", str(output))
    assert again.returncode == 2
    assert "error: cannot write" in said(again)  # an existing output is never overwritten


def test_a_missing_column_exits_2_naming_it(
    panel_file: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, _ = panel_file
    done = _submit("--panel", str(path), "--features", "x0,nope", "--output", str(tmp_path / "b"))
    assert done.returncode == 2
    printed = said(done)
    assert "error: the Spark frame lacks column(s) ['nope']" in printed
    assert "Traceback" not in printed
    assert not (tmp_path / "b").exists()
