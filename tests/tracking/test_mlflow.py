"""MLflow tracking: real MLflow (SQLite store) in a virtualenv of its own.

``GLOCAL_TEST_MLFLOW_PYTHON`` names the python of a virtualenv with glocal and its mlflow
extra (``scripts/mlflow_venv.sh``; `.ci/run` sets it): MLflow 3 pins an older pyarrow than
glocal's own environment. The helpers that need no MLflow are tested here directly.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from glocal.config import Settings
from glocal.core.errors import ConfigError
from glocal.pipeline import run_pipeline
from glocal.tracking import PYFUNC_CODE, run_parameters
from glocal.tracking.mlflow_runs import _numbers

MLFLOW_ENV = "GLOCAL_TEST_MLFLOW_PYTHON"


def test_parameters_are_the_model_shaping_settings_flattened() -> None:
    parameters = run_parameters(Settings())
    assert parameters["features.horizon_days"] == "30"
    assert parameters["global_model.offsets"] == '["none", "naive", "btyd"]'
    assert not [name for name in parameters if name.startswith(("registry", "serving"))]


def test_metrics_are_every_finite_number_by_dotted_key() -> None:
    found = _numbers({"a": 1, "b": {"c": 2.5, "d": float("nan"), "e": True}, "f": "x"})
    assert found == {"a": 1.0, "b.c": 2.5}


def test_the_pyfunc_is_model_code_not_a_pickle() -> None:
    text = PYFUNC_CODE.read_text()
    assert "set_model(" in text and "import pickle" not in text and "cloudpickle" not in text


def test_a_tracking_uri_without_mlflow_fails_before_training(
    tmp_path: Path, workspace_without_mlflow: None
) -> None:
    from glocal.config import Workspace

    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    settings = Settings.model_validate({"tracking": {"mlflow_uri": "sqlite:///x.db"}})
    with pytest.raises(ConfigError, match="mlflow"):
        run_pipeline(workspace, settings)
    assert not list(workspace.root.joinpath("models", "bundles").glob("*"))


@pytest.fixture
def workspace_without_mlflow() -> None:
    """Skip where MLflow happens to be importable (the check is about its absence)."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("MLflow is installed in this environment")


@pytest.mark.mlflow
@pytest.mark.realdata
@pytest.mark.slow
def test_the_registered_pyfunc_predicts_bit_for_bit_as_glocal(
    real_data_path: Path, tmp_path: Path
) -> None:
    python = os.environ.get(MLFLOW_ENV)
    if not python:
        pytest.skip(f"set {MLFLOW_ENV} to the python of scripts/mlflow_venv.sh")
    done = subprocess.run(
        [
            python,
            str(Path(__file__).with_name("mlflow_check.py")),
            str(real_data_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] > 4000
    assert result["same"] == {
        "prediction": True,
        "global_prediction": True,
        "local_prediction": True,
    }
    assert result["same_source"] and result["entities_equal"]
    assert result["glocal_run_id"] == result["production"]
    assert result["params"] > 20
    assert "validation.hybrid_mse" in result["metrics"] or any(
        name.endswith("hybrid_mse") for name in result["metrics"]
    )
    assert "metrics.json" in result["artifacts"]  # the model itself is MLflow's logged model
    # loading the model runs glocal's code file and reads the bundle: nothing unpickled
    assert result["pickles"] == []
    assert result["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert result["python_model"] is None


@pytest.mark.mlflow
@pytest.mark.slow
def test_a_run_after_evaluate_logs_the_evaluation_report_and_plots(tmp_path: Path) -> None:
    python = os.environ.get(MLFLOW_ENV)
    if not python:
        pytest.skip(f"set {MLFLOW_ENV} to the python of scripts/mlflow_venv.sh")
    check = Path(__file__).with_name("mlflow_check.py")
    done = subprocess.run(
        [python, str(check), "--evaluation", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    logged = json.loads(done.stdout.strip().splitlines()[-1])["evaluation"]
    assert {"metrics.json", "report.html"} <= set(logged)
    assert any(name.endswith(".png") for name in logged)
