"""Alias moves and retention: promote/rollback refuse what cannot be served, prune keeps it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.core.errors import BundleError, RegistryError
from glocal.models import HybridModel
from glocal.registry import Registry
from tests.registry.conftest import record_run

Fitted = tuple[HybridModel, pd.DataFrame]


def test_prune_keeps_newest_aliased_and_rollback_target(
    registry: Registry, fitted_model: Fitted, workspace: Workspace
) -> None:
    model = fitted_model[0]
    for index, run_id in enumerate(["a", "b", "c", "d", "e"]):
        record_run(registry, model, run_id, index)
    registry.promote("b")
    registry.promote("c")  # production c, a rollback goes to b
    assert registry.prune_bundles(1, dry_run=True) == ["d", "a"]
    assert (workspace.models_dir / "bundles" / "a").is_dir()
    assert registry.prune_bundles(1) == ["d", "a"]
    kept = sorted(p.name for p in (workspace.models_dir / "bundles").iterdir())
    assert kept == ["b", "c", "e"]
    runs = registry.list_runs().set_index("run_id")
    assert runs.loc["a", "status"] == "pruned" and runs.loc["e", "status"] == "completed"
    assert len(registry.entity_models("a")) == len(model.decisions_)  # history stays
    with pytest.raises(RegistryError, match="deleted by retention"):
        registry.promote("a")
    assert registry.alias() == "c"
    assert registry.prune_bundles(1) == []  # nothing more to do
    assert registry.rollback() == "b"
    with pytest.raises(RegistryError, match="at least the newest run"):
        registry.prune_bundles(0)


def test_prune_killed_while_deleting_is_finished_by_the_next(
    registry: Registry, fitted_model: Fitted, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index, run_id in enumerate(["a", "b"]):
        record_run(registry, fitted_model[0], run_id, index)

    def killed(path: Path) -> bool:
        raise KeyboardInterrupt  # the process dies after the status change

    monkeypatch.setattr("glocal.registry.placement.discard_bundle", killed)
    with pytest.raises(KeyboardInterrupt):
        registry.prune_bundles(1)
    monkeypatch.undo()
    assert (workspace.models_dir / "bundles" / "a").is_dir()
    with pytest.raises(RegistryError, match="deleted by retention"):
        registry.promote("a", verify=False)
    assert registry.prune_bundles(1) == []
    assert not (workspace.models_dir / "bundles" / "a").exists()


def test_promote_refuses_a_tampered_bundle(
    registry: Registry, fitted_model: Fitted, workspace: Workspace
) -> None:
    for index, run_id in enumerate(["a", "b"]):
        record_run(registry, fitted_model[0], run_id, index)
    registry.promote("a")
    victim = next((workspace.models_dir / "bundles" / "b").glob("decisions/*.parquet"))
    victim.unlink()  # a new file, not the inode a parent bundle may share
    victim.write_bytes(b"changed")
    with pytest.raises(BundleError, match="checksum mismatch"):
        registry.promote("b")
    assert registry.alias() == "a"
