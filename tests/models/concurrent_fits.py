"""LightGBM training and prediction on two threads at once, in a child process.

Usage: ``python -m tests.models.concurrent_fits SECONDS``. One thread fits small
:class:`GlobalModel` learners (one training thread each) while the other predicts with
LightGBM, both through the global stage's thread pool, until SECONDS have passed. With
mixed thread counts LightGBM crashes the process (exit code -11) within seconds on sparse
data; the test asserts that this process exits normally.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from glocal.config.models import GlobalModelSettings
from glocal.models.global_model import GlobalModel
from glocal.models.global_stage import _parallel_map

ROWS = 100_000
FEATURES = 30


def _panel(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(ROWS, FEATURES))
    values[rng.random(values.shape) < 0.9] = 0.0  # sparse: LightGBM's multi-value bins
    frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(FEATURES)])
    frame["target"] = frame["x0"] + rng.normal(size=ROWS)
    return frame


def main(seconds: float) -> None:
    """Fit on one thread and predict on the other until ``seconds`` have passed."""
    frame = _panel(0)
    features = [f"x{i}" for i in range(FEATURES)]
    settings = GlobalModelSettings(params={"n_estimators": 5}, refit_on_validation=False)
    model = GlobalModel(settings).fit(frame, None, features, [])
    stop = time.monotonic() + seconds

    def work(job: str) -> int:
        done = 0
        while time.monotonic() < stop:
            if job == "fit":
                GlobalModel(settings).fit(frame, None, features, [])
            else:
                model.predict(frame.iloc[:2000], engine="lightgbm")
            done += 1
        return done

    counts = _parallel_map(work, ["fit", "predict"], 2)
    print(f"fits {counts[0]}, predictions {counts[1]}")


if __name__ == "__main__":
    main(float(sys.argv[1]))
