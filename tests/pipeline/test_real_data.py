from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.features import read_current_panel, read_panel
from glocal.pipeline import PREDICTION_FILE_COLUMNS, run_pipeline
from glocal.registry import Registry, load_bundle


@pytest.mark.slow
@pytest.mark.realdata
def test_real_data_first_and_second_run(real_data_path: Path, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    first = run_pipeline(workspace, workspace.settings(), data=real_data_path)
    assert first.mode == "full"
    assert first.counts["retrained"] > 4000
    predictions = pd.read_parquet(first.predictions)
    assert tuple(predictions.columns) == PREDICTION_FILE_COLUMNS
    assert len(predictions) == 4307
    second = run_pipeline(workspace, workspace.settings(), data=real_data_path)
    assert second.mode == "skip"
    assert second.total_seconds < 2.0
    # the whole real panel is a batch large enough for the compiled trees: same numbers
    with Registry.open(None, workspace) as registry:
        run_id = registry.alias("production")
        assert run_id is not None
        model, manifest = load_bundle(registry.resolve_bundle(run_id))
    # the population guard's outcome is part of the run's record
    assert (
        manifest["global_model"]["population_guard"]
        == (model.report_["population_guard"]["outcome"])
    )
    levels = manifest["metrics"]["hybrid"]["population_guard"]["levels"]
    assert len(levels) == 8 and all("p_value" in level for level in levels)
    panel = read_panel(read_current_panel(workspace).files.panel)
    for learner in model.global_stage_.models_.values():
        assert learner.compiled_forest() is not None
        expected = learner.booster_.predict(learner._lightgbm_matrix(panel))
        if learner.offset is not None:
            expected = expected + panel[learner.offset].to_numpy()
        np.testing.assert_array_equal(learner.predict(panel, engine="compiled"), expected)
