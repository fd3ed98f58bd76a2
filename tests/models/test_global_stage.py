"""The global stage: its thread pool, and the weekly refresh of its learners."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glocal.data.synthetic import make_synthetic_panel
from tests.models.conftest import FAST_GLOBAL, history_test, synthetic_hybrid

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


def test_refresh_refits_the_chosen_learners_and_rechooses_nothing() -> None:
    panel, _ = make_synthetic_panel(80, 40, 3, heterogeneity=0.5, noise=0.5, seed=2)
    earlier, later = history_test(panel, 0.8)
    stage = synthetic_hybrid(global_model=FAST_GLOBAL).fit(earlier).global_stage_
    fresh = stage.refresh(panel.sort_values(["entity_id", "cutoff"], ignore_index=True))
    assert fresh.members_ == stage.members_ and fresh.weights_ == stage.weights_
    assert fresh.learner_features_ == stage.learner_features_
    for name, model in fresh.models_.items():
        assert model.best_iteration_ == stage.models_[name].best_iteration_
    assert not np.array_equal(fresh.predict(later), stage.predict(later))
    assert not hasattr(fresh, "fold_train_") and not hasattr(fresh, "history_prediction_")
    assert hasattr(stage, "fold_train_")  # the refreshed stage is a copy
