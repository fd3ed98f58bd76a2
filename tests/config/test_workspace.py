from __future__ import annotations

from pathlib import Path

import pytest

from glocal.config import Workspace
from glocal.core.errors import WorkspaceError


def test_init_creates_the_described_layout(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "shop")
    workspace.init()
    for relative in (
        "data/raw",
        "data/processed",
        "data/versions",
        "models/global",
        "models/local",
        "predictions/daily",
        "predictions/batch",
        "evaluation",
        "logs",
        "config/settings.yaml",
    ):
        assert (workspace.root / relative).exists(), relative


def test_init_keeps_existing_settings(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.init()
    workspace.settings_path.write_text("seed: 5\n")
    assert workspace.init() == []
    assert workspace.settings().seed == 5


def test_require_explains_how_to_create_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="glocal init"):
        Workspace(tmp_path).require()


def test_init_on_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace(path).init()
