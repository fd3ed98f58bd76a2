"""Every benchmark the README or a note quotes must run: a smoke run of each, tiny sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REAL_DATA

BENCHMARKS = sorted((Path(__file__).resolve().parent.parent / "benchmarks").glob("bench_*.py"))
NEEDS_REAL_DATA = {
    "bench_backtest.py",
    "bench_panel.py",
    "bench_pipeline.py",
    "bench_real_scoring.py",
    "bench_serve.py",
}


def test_every_benchmark_is_covered() -> None:
    assert [path.name for path in BENCHMARKS] == [
        "bench_backtest.py",
        "bench_batch_scoring.py",
        "bench_engine.py",
        "bench_evaluate.py",
        "bench_incremental.py",
        "bench_local_bank.py",
        "bench_million.py",
        "bench_panel.py",
        "bench_pipeline.py",
        "bench_real_scoring.py",
        "bench_registry.py",
        "bench_serve.py",
        "bench_spark_bank.py",
    ]


NEEDS_SPARK = {"bench_engine.py", "bench_spark_bank.py"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [
        pytest.param(path, marks=pytest.mark.spark) if path.name in NEEDS_SPARK else path
        for path in BENCHMARKS
    ],
    ids=lambda path: path.stem,
)
def test_benchmark_runs_quick(script: Path) -> None:
    if script.name in NEEDS_REAL_DATA and not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA}")
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=script.parent.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()
