"""A workspace kept in an object store (``storage.url``), here a ``file://`` store.

The S3 tests (``test_s3_storage.py``) run the same commands against a real S3 server.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.core.errors import WorkspaceError
from glocal.core.storage import ObjectStore
from glocal.pipeline import RegistryRunLock, run_pipeline
from glocal.pipeline.remote import close_remote_workspace, open_remote_workspace
from glocal.registry import Registry
from tests.pipeline.conftest import append_orders, write_demo


def remote_settings(root: Path, store_url: str, registry_url: str, extra: str = "") -> Path:
    """Write a workspace that holds nothing but its settings file."""
    settings = root / "config" / "settings.yaml"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        f"storage:\n  url: {store_url}\n{extra}registry:\n  url: {registry_url}\n",
        encoding="utf-8",
    )
    return root


def files_of(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, ObjectStore, str]:
    store_url = (tmp_path / "store").as_uri()
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    root = remote_settings(tmp_path / "ws", store_url, registry_url)
    return root, ObjectStore(store_url), registry_url


def test_run_and_predict_leave_only_the_settings(
    remote: tuple[Path, ObjectStore, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, store, _ = remote
    data = write_demo(tmp_path / "day1.parquet")
    assert main(["run", "-w", str(root), "--data", str(data)]) == 0
    assert main(["predict", "-w", str(root)]) == 0
    assert files_of(root) == ["config/settings.yaml"]
    keys = store.list_files()
    bundles = {key.split("/")[2] for key in keys if key.endswith("/manifest.json")}
    assert len(bundles) == 1
    for prefix in ("data/versions/", "predictions/daily/", "predictions/batch/", "logs/"):
        assert any(key.startswith(prefix) for key in keys), prefix
    out = capsys.readouterr().out
    assert f"Wrote {store.url}/predictions/batch/" in out
    # registry commands need only the database (and a bundle when they verify one)
    assert main(["registry", "rollback", "-w", str(root)]) == 2  # no earlier run to go to
    assert main(["registry", "export", "--json", "-w", str(root)]) == 0
    assert "models/registry.json" in store.list_files("models")
    assert files_of(root) == ["config/settings.yaml"]
    # no log handler is left writing into a deleted scratch directory
    handlers = logging.getLogger("glocal").handlers
    files = [Path(h.baseFilename) for h in handlers if isinstance(h, logging.FileHandler)]
    assert all(path.parent.is_dir() for path in files)

    # the same run in an ordinary workspace predicts the same, bit for bit
    local = Workspace(tmp_path / "local")
    local.init()
    summary = run_pipeline(local, local.settings(), data=data)
    assert summary.predictions is not None
    expected = pd.read_parquet(summary.predictions).drop(columns="run_id")
    daily = next(key for key in keys if key.startswith("predictions/daily/"))
    store.download(daily, tmp_path / "daily.parquet")
    actual = pd.read_parquet(tmp_path / "daily.parquet").drop(columns="run_id")
    pd.testing.assert_frame_equal(actual, expected)


def test_an_incremental_run_reads_its_state_from_the_store(
    remote: tuple[Path, ObjectStore, str], tmp_path: Path
) -> None:
    root, store, registry_url = remote
    day1 = write_demo(tmp_path / "day1.parquet")
    day2 = append_orders(day1, tmp_path / "day2.parquet", [14354, 14677, 12591])
    assert main(["run", "-w", str(root), "--data", str(day1)]) == 0
    store.publish_file(day2, "incoming/day2.parquet")  # a URL works as --data too
    assert main(["run", "-w", str(root), "--data", f"{store.url}/incoming/day2.parquet"]) == 0
    with Registry.open(registry_url, Workspace(tmp_path / "unused")) as registry:
        runs = registry.list_runs()
        production = registry.alias("production")
        record = registry.run(str(production))
    assert len(runs) == 2
    assert record.bundle_path == f"{store.url}/models/bundles/{production}"
    assert record.metrics["pipeline"]["mode"] == "incremental"
    assert files_of(root) == ["config/settings.yaml"]


def test_a_run_removes_what_an_unregistered_run_left_in_the_store(
    remote: tuple[Path, ObjectStore, str], tmp_path: Path
) -> None:
    root, store, _ = remote
    data = write_demo(tmp_path / "day1.parquet")
    assert main(["run", "-w", str(root), "--data", str(data)]) == 0
    kept = set(store.list_files("models"))
    # what a run killed between publishing its bundle and registering it leaves behind
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "manifest.json").write_text("{}")
    store.publish_file(orphan / "manifest.json", "models/bundles/killed-run/manifest.json")
    store.publish_file(orphan / "manifest.json", "models/pipeline/killed-run/entities.parquet")
    assert main(["run", "-w", str(root)]) == 0
    assert set(store.list_files("models")) == kept


def run_refused_while_locked(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Hold the store's run lock, try `glocal run`; return its (whitespace-joined) stderr."""
    settings = Workspace(root).settings()
    scratch = open_remote_workspace(Workspace(root).settings_path, settings)
    try:
        with RegistryRunLock(settings, scratch):
            assert main(["run", "-w", str(root)]) == 2
            with pytest.raises(WorkspaceError), RegistryRunLock(settings, scratch):
                pass
    finally:
        close_remote_workspace(scratch, publish=False)
    assert not scratch.root.exists()
    return " ".join(capsys.readouterr().err.split())


def test_the_run_lock_keeps_two_runs_on_one_store_apart(
    remote: tuple[Path, ObjectStore, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "another glocal run is using the workspace" in run_refused_while_locked(
        remote[0], capsys
    )


def test_a_missing_data_url_is_named(
    remote: tuple[Path, ObjectStore, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, store, _ = remote
    assert main(["run", "-w", str(root), "--data", f"{store.url}/incoming/none.parquet"]) == 2
    assert "incoming/none.parquet does not exist" in " ".join(capsys.readouterr().err.split())


def test_a_store_url_needs_a_shared_registry(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "config").mkdir(parents=True)
    (root / "config" / "settings.yaml").write_text("storage:\n  url: s3://bucket/shop\n")
    assert main(["predict", "-w", str(root)]) == 2


def test_a_damaged_record_in_the_store_is_named(
    remote: tuple[Path, ObjectStore, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, store, _ = remote
    damaged = tmp_path / "damaged.json"
    damaged.write_text("{not json")
    store.publish_file(damaged, "data/versions/0123456789ab.json")
    assert main(["predict", "-w", str(root)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{store.url}/data/versions/0123456789ab.json is damaged" in err
