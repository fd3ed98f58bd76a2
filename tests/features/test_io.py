"""Tests of writing and reading panels in a workspace."""

from __future__ import annotations

import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.config.features import FeatureSettings
from glocal.core.errors import DataFileError
from glocal.features import PanelFiles, build_latest_snapshot, build_panel, read_panel, write_panel


def test_round_trip_keeps_the_contract(workspace: Workspace, small_log: pd.DataFrame):
    panel = build_panel(small_log, FeatureSettings())
    latest = build_latest_snapshot(small_log, FeatureSettings())
    files = write_panel(workspace, "abc123", panel, latest)
    assert files == PanelFiles(
        panel=workspace.processed_dir("abc123") / "panel.parquet",
        latest=workspace.processed_dir("abc123") / "features_latest.parquet",
    )
    pd.testing.assert_frame_equal(read_panel(files.panel), panel)
    pd.testing.assert_frame_equal(read_panel(files.latest), latest)
    leftovers = [p.name for p in files.panel.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_reading_a_missing_panel_says_what_to_run(workspace: Workspace):
    with pytest.raises(DataFileError, match="Run `glocal features`"):
        read_panel(workspace.processed_dir("nope") / "panel.parquet")
