from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Settings, Workspace
from glocal.core.errors import BundleError
from glocal.core.hashing import hash_json
from glocal.models import HybridModel
from glocal.registry import (
    BundleMetadata,
    Registry,
    cleanup_partial_bundles,
    list_bundles,
    load_bundle,
    verify_bundle,
    write_bundle,
)
from glocal.registry import bundles as bundles_module
from glocal.registry.manifest import read_manifest

Fitted = tuple[HybridModel, pd.DataFrame]


def _metadata(settings: Settings, **extra: object) -> BundleMetadata:
    return BundleMetadata("data-v1", settings, {"mse": 1.5, "bad": float("nan")}, **extra)  # type: ignore[arg-type]


def test_write_then_load_round_trips_with_a_full_manifest(
    workspace: Workspace, fitted_model: Fitted, settings: Settings
) -> None:
    model, test = fitted_model
    path = write_bundle(workspace, "r1", model, _metadata(settings, parent_run_id="r0"))
    assert path == workspace.models_dir / "bundles" / "r1"
    loaded, manifest = load_bundle(path)
    pd.testing.assert_frame_equal(loaded.predict(test), model.predict(test), check_exact=True)
    assert manifest["run_id"] == "r1"
    assert manifest["data_version"] == "data-v1"
    assert manifest["config_hash"] == hash_json(settings.model_dump(mode="json"))
    assert manifest["code_version"]["glocal"]
    assert manifest["metrics"] == {"mse": 1.5, "bad": None}
    assert manifest["lineage"]["parent_run_id"] == "r0"
    assert manifest["lineage"]["global_version_id"].startswith("gm-")
    assert any(name.startswith("decisions/") for name in manifest["files"])
    assert set(manifest["files"]) == {
        p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
    } - {"manifest.json"}
    assert list_bundles(workspace) == [path]


def test_bundles_are_immutable(
    workspace: Workspace, fitted_model: Fitted, settings: Settings
) -> None:
    write_bundle(workspace, "r1", fitted_model[0], _metadata(settings))
    with pytest.raises(BundleError, match="immutable"):
        write_bundle(workspace, "r1", fitted_model[0], _metadata(settings))
    with pytest.raises(BundleError, match="run id"):
        write_bundle(workspace, "../escape", fitted_model[0], _metadata(settings))
    with pytest.raises(BundleError, match="run id"):  # "$" would let a trailing newline in
        write_bundle(workspace, "r2\n", fitted_model[0], _metadata(settings))


@pytest.mark.parametrize(
    "victim", ["decisions/", "global/stage.json", "global/member_0/global_model.txt"]
)
def test_tampered_file_is_named(
    victim: str, workspace: Workspace, fitted_model: Fitted, settings: Settings
) -> None:
    path = write_bundle(workspace, "r1", fitted_model[0], _metadata(settings))
    victim = next(name for name in sorted(read_manifest(path)["files"]) if name.startswith(victim))
    with (path / victim).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=f"checksum mismatch.*{victim}"):
        verify_bundle(path)
    with pytest.raises(BundleError, match=victim):
        load_bundle(path)


def test_missing_and_extra_files_are_named(
    workspace: Workspace, fitted_model: Fitted, settings: Settings
) -> None:
    path = write_bundle(workspace, "r1", fitted_model[0], _metadata(settings))
    (path / "intruder.json").write_text("{}")
    with pytest.raises(BundleError, match=r"intruder\.json"):
        verify_bundle(path)
    (path / "intruder.json").unlink()
    (path / "hybrid.json").unlink()
    with pytest.raises(BundleError, match=r"hybrid\.json"):
        verify_bundle(path)


def test_manifest_pointing_outside_is_refused(
    workspace: Workspace, fitted_model: Fitted, settings: Settings
) -> None:
    path = write_bundle(workspace, "r1", fitted_model[0], _metadata(settings))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["../../config/settings.yaml"] = "0" * 64
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="outside"):
        verify_bundle(path)


def test_partial_bundle_is_ignored_then_cleaned(
    workspace: Workspace, fitted_model: Fitted, settings: Settings
) -> None:
    done = write_bundle(workspace, "r1", fitted_model[0], _metadata(settings))
    leftover = workspace.models_dir / "bundles" / ".r2.abc123.tmp"
    (leftover / "global").mkdir(parents=True)
    (leftover / "global" / "stage.json").write_text("half a model")
    assert list_bundles(workspace) == [done]
    with pytest.raises(BundleError, match="unfinished"):
        verify_bundle(leftover)
    assert cleanup_partial_bundles(workspace) == [leftover]
    assert not leftover.exists()
    assert done.exists()


def test_cleanup_skips_a_directory_a_live_writer_holds(workspace: Workspace) -> None:
    live = workspace.models_dir / "bundles" / ".r3.xyz.tmp"
    live.mkdir(parents=True)
    fd = bundles_module._lock(live)
    try:
        assert cleanup_partial_bundles(workspace) == []
        assert live.exists()
    finally:
        os.close(fd)
    assert cleanup_partial_bundles(workspace) == [live]


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "free disk space"),
        (PermissionError(errno.EACCES, "Permission denied"), "writable"),
    ],
)
def test_disk_full_or_permission_error_publishes_nothing_and_keeps_production(
    error: OSError,
    advice: str,
    workspace: Workspace,
    fitted_model: Fitted,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = fitted_model[0]
    with Registry.open(None, workspace) as registry:
        registry.record_bundle(write_bundle(workspace, "r1", model, _metadata(settings)))
        registry.promote("r1")

    def fail(frame: pd.DataFrame, root: Path, table: str, suffix: str = "") -> str:
        raise error

    monkeypatch.setattr("glocal.models.table_layers._write_layer_file", fail)
    with pytest.raises(BundleError, match=advice) as caught:
        write_bundle(workspace, "r2", model, _metadata(settings))
    assert "cannot write bundle" in str(caught.value)
    assert "no alias changed" in str(caught.value)
    bundles = workspace.models_dir / "bundles"
    assert sorted(p.name for p in bundles.iterdir()) == ["r1"]  # no temp dir left behind
    with Registry.open(None, workspace) as registry:
        assert registry.alias("production") == "r1"
