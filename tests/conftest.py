"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from glocal.config import Workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "online_retail.parquet"


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """Path of the real UCI Online Retail file; the test is skipped where it is absent."""
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA} (it lives in ../shared/data/)")
    return REAL_DATA


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A freshly initialised workspace in a temporary directory."""
    ws = Workspace(tmp_path / "ws")
    ws.init()
    return ws
