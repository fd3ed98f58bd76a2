from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.core.errors import WorkspaceError
from glocal.features import read_current_panel, read_panel
from glocal.features.io import LATEST_FILE
from glocal.pipeline import PREDICTION_FILE_COLUMNS, RunSummary, predict_batch

Run = tuple[Workspace, RunSummary, Path]


def test_batch_file_has_exactly_the_contract_columns(after_first_run: Run) -> None:
    workspace, first, _ = after_first_run
    result = predict_batch(workspace, workspace.settings(), dt.date(2012, 1, 5))
    assert result.path == workspace.predictions_dir / "batch" / "2012-01-05.parquet"
    frame = pd.read_parquet(result.path)
    assert tuple(frame.columns) == PREDICTION_FILE_COLUMNS
    assert set(frame["run_id"]) == {first.run_id}
    assert set(frame["source"]) <= {"global", "local", "blend"}
    latest = read_panel(read_current_panel(workspace).files.latest)
    assert len(frame) == len(latest) == frame["entity_id"].nunique()
    local = frame["source"] == "local"
    assert (frame.loc[local, "prediction"] == frame.loc[local, "local_prediction"]).all()


def test_unknown_entities_get_the_global_prediction(after_first_run: Run) -> None:
    workspace, _, _ = after_first_run
    files = read_current_panel(workspace).files
    latest = read_panel(files.latest)
    stranger = latest.iloc[:3].copy()
    stranger["entity_id"] = pd.array(["new-1", "new-2", "new-3"], dtype=latest["entity_id"].dtype)
    pd.concat([latest, stranger], ignore_index=True).to_parquet(
        files.latest.parent / LATEST_FILE, index=False
    )
    frame = predict_batch(workspace, workspace.settings()).frame
    unknown = frame[frame["entity_id"].str.startswith("new-")]
    assert len(unknown) == 3
    assert (unknown["source"] == "global").all()
    assert (unknown["prediction"] == unknown["global_prediction"]).all()
    assert unknown["local_prediction"].isna().all()


def test_predict_without_production_model_says_run_first(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="glocal run"):
        predict_batch(workspace, workspace.settings())
