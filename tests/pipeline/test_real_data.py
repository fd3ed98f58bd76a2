from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.pipeline import PREDICTION_FILE_COLUMNS, run_pipeline


@pytest.mark.slow
@pytest.mark.realdata
def test_real_data_first_and_second_run(real_data_path: Path, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    first = run_pipeline(workspace, workspace.settings(), data=real_data_path)
    assert first.mode == "full"
    assert first.counts["retrained"] > 4000
    assert first.validation["hybrid_mse"] < first.validation["global_mse"]
    predictions = pd.read_parquet(first.predictions)
    assert tuple(predictions.columns) == PREDICTION_FILE_COLUMNS
    assert len(predictions) == 4307
    second = run_pipeline(workspace, workspace.settings(), data=real_data_path)
    assert second.mode == "skip"
    assert second.total_seconds < 2.0
