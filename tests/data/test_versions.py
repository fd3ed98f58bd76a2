from __future__ import annotations

import pytest

from glocal.config import Settings, Workspace
from glocal.core.errors import WorkspaceError
from glocal.data import (
    get_data_version,
    ingest_file,
    latest_data_version,
    list_data_versions,
    load_clean_transactions,
    write_demo_file,
)
from glocal.data.versions import version_id


def test_version_ids() -> None:
    digest = "0123456789abcdef" * 4
    assert version_id(digest) == "0123456789ab"
    assert version_id(digest, "Sheet1") != version_id(digest, "Sheet2")
    assert len(version_id(digest, "Sheet1")) == 12


def test_empty_workspace_says_to_ingest(workspace: Workspace) -> None:
    assert list_data_versions(workspace) == []
    with pytest.raises(WorkspaceError, match=r"run `glocal ingest FILE` first"):
        latest_data_version(workspace)
    with pytest.raises(WorkspaceError, match=r"run `glocal ingest FILE` first"):
        load_clean_transactions(workspace)


def test_unknown_version_lists_known_ones(workspace: Workspace) -> None:
    path = write_demo_file(workspace, seed=1, n_customers=10)
    result = ingest_file(path, workspace, Settings())
    with pytest.raises(WorkspaceError, match=result.version.version):
        get_data_version(workspace, "000000000000")
    with pytest.raises(WorkspaceError, match="known versions"):
        load_clean_transactions(workspace, "../../etc")


def test_damaged_record_is_reported(workspace: Workspace) -> None:
    (workspace.versions_dir / "0123456789ab.json").write_text("{not json")
    with pytest.raises(WorkspaceError, match=r"0123456789ab.json is damaged"):
        list_data_versions(workspace)
