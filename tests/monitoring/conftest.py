"""A workspace after two runs replayed 35 days apart on demo data, the second one current."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from glocal.config import Workspace
from glocal.pipeline import RunSummary, run_pipeline
from tests.pipeline.conftest import write_demo

FIRST = dt.date(2011, 9, 5)
SECOND = dt.date(2011, 10, 10)

Replay = tuple[Workspace, RunSummary, RunSummary]


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """Runs as of 2011-09-05 and 2011-10-10 (do not modify: copy with ``replay``)."""
    root = tmp_path_factory.mktemp("monitor") / "ws"
    workspace = Workspace(root)
    workspace.init()
    data = write_demo(root.parent / "all.parquet")
    first = run_pipeline(workspace, workspace.settings(), data=data, as_of=FIRST)
    second = run_pipeline(workspace, workspace.settings(), as_of=SECOND)
    return workspace, first, second


@pytest.fixture
def replay(two_runs: Replay, tmp_path: Path) -> Replay:
    """A private copy of :func:`two_runs`."""
    workspace, first, second = two_runs
    copy = tmp_path / "ws"
    shutil.copytree(workspace.root, copy)
    return Workspace(copy), first, second
