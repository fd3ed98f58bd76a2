"""A real Spark session, ``local[2]``, shared by the Spark tests (marker ``spark``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def spark_submit(job: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the job file ``job`` with PySpark's own ``spark-submit`` on ``local[2]``."""
    submit = Path(sys.executable).parent / "spark-submit"
    if not submit.is_file():
        pytest.skip("install the 'spark' extra: spark-submit is missing from the environment")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    command = [str(submit), "--master", "local[2]", job, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a job printed: spark-submit passes the driver's stderr on to its stdout."""
    return done.stdout + done.stderr


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """PySpark on this interpreter (``glocal.engines.spark_bank.spark_session``)."""
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    from glocal.engines.spark_bank import spark_session

    session = spark_session("local[2]", "glocal-tests")
    yield session
    session.stop()
