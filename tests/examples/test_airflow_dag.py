"""``examples/airflow/glocal_dag.py`` run by a real Airflow: ``airflow dags test``.

Airflow lives in a virtualenv of its own (``scripts/airflow_venv.sh``, which `.ci/run`
calls); ``GLOCAL_TEST_AIRFLOW`` names its ``airflow`` executable. The DAG's tasks call
this checkout's ``glocal`` command line on a fresh workspace with the demo transactions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glocal.config import Workspace
from glocal.data import write_demo_file
from tests.conftest import REPO_ROOT

AIRFLOW_ENV = "GLOCAL_TEST_AIRFLOW"
DAY = "2011-12-05"

pytestmark = pytest.mark.airflow


@pytest.fixture
def airflow(tmp_path: Path) -> tuple[str, dict[str, str], Workspace]:
    """The airflow executable, an environment for it, and the workspace the DAG runs on."""
    executable = os.environ.get(AIRFLOW_ENV)
    if not executable:
        pytest.skip(f"set {AIRFLOW_ENV} to an airflow executable (scripts/airflow_venv.sh)")
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    data = write_demo_file(workspace)
    environ = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "examples" / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GLOCAL_BIN": str(Path(sys.executable).parent / "glocal"),
        "GLOCAL_WORKSPACE": str(workspace.root),
        "GLOCAL_DATA": str(data),
    }
    migrate = subprocess.run(
        [executable, "db", "migrate"], env=environ, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return executable, environ, workspace


def test_the_daily_dag_runs_every_step_in_airflow(
    airflow: tuple[str, dict[str, str], Workspace],
) -> None:
    executable, environ, workspace = airflow
    done = subprocess.run(
        [executable, "dags", "test", "glocal_daily", DAY],
        env=environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    assert "glocal_daily" in log and "successful" in log, log[-5000:]
    production = subprocess.run(
        [environ["GLOCAL_BIN"], "registry", "list", "-w", str(workspace.root)],
        capture_output=True,
        text=True,
    )
    assert production.returncode == 0 and "20111205T000000Z" in production.stdout
    assert list((workspace.root / "predictions" / "batch").glob("*.parquet"))
    monitor = json.loads(
        (workspace.root / "evaluation" / "monitor" / DAY / "monitor.json").read_text()
    )
    assert monitor["production_run_id"].startswith("20111205T000000Z")
    assert monitor["alerts"] == []


def test_an_alert_fails_the_monitor_task_and_names_the_alert(
    airflow: tuple[str, dict[str, str], Workspace],
) -> None:
    executable, environ, workspace = airflow
    glocal = environ["GLOCAL_BIN"]
    root = str(workspace.root)
    for command in (["ingest", environ["GLOCAL_DATA"]], ["run", "--as-of", DAY]):
        subprocess.run([glocal, *command, "-w", root], check=True, capture_output=True)
    # every feature's PSI now alerts
    settings = workspace.root / "config" / "settings.yaml"
    settings.write_text("monitoring:\n  psi_alert: 0.000001\n  drift_alert_exclude: []\n")
    done = subprocess.run(
        [executable, "tasks", "test", "glocal_daily", "monitor", DAY],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = done.stdout + done.stderr
    # `airflow tasks test` itself exits 0; the task's own outcome is in its log
    assert "Command exited with return code 1" in log, log[-5000:]
    assert "Task failed" in log, log[-5000:]
    assert "ALERT feature_drift" in log, log[-5000:]
