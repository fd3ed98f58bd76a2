"""The global stage's thread pool: LightGBM on several threads must not crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_training_beside_prediction_does_not_crash() -> None:
    """Fits and predictions on two threads for 20 s; mixed thread counts crashed in CI."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.models.concurrent_fits", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    fits, predictions = (int(part.split()[-1]) for part in done.stdout.strip().split(","))
    assert fits > 0 and predictions > 0
