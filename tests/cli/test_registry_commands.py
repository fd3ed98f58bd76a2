from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Settings, Workspace
from glocal.config.models import GlobalModelSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import HybridModel
from glocal.registry import BundleMetadata, Registry, write_bundle
from tests.models.conftest import history_test, synthetic_hybrid

Fitted = tuple[HybridModel, pd.DataFrame]


@pytest.fixture(scope="module")
def fitted_model() -> Fitted:
    panel, _ = make_synthetic_panel(30, 40, 3, heterogeneity=1.0, noise=0.3, seed=4)
    history, test = history_test(panel)
    settings = GlobalModelSettings(params={"n_estimators": 20}, entity_feature=False)
    return synthetic_hybrid(global_model=settings).fit(history), test


@pytest.fixture
def two_runs(workspace: Workspace, fitted_model: Fitted) -> Workspace:
    model = fitted_model[0]
    with Registry.open(None, workspace) as registry:
        for run_id in ("run-a", "run-b"):
            path = write_bundle(workspace, run_id, model, BundleMetadata("v1", Settings()))
            registry.record_bundle(path)
    return workspace


@pytest.fixture
def three_runs(two_runs: Workspace, fitted_model: Fitted) -> Workspace:
    """:func:`two_runs` plus a newer ``run-c``."""
    with Registry.open(None, two_runs) as registry:
        path = write_bundle(two_runs, "run-c", fitted_model[0], BundleMetadata("v1", Settings()))
        registry.record_bundle(path)
    return two_runs


def _ws(workspace: Workspace) -> list[str]:
    return ["--workspace", str(workspace.root)]


def test_registry_group_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "--help"]) == 0
    out = capsys.readouterr().out
    for command in ("list", "show", "promote", "rollback", "export"):
        assert command in out


def test_list_marks_production(two_runs: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "promote", "run-a", *_ws(two_runs)]) == 0
    assert "production -> run-a" in capsys.readouterr().out
    assert main(["registry", "list", *_ws(two_runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line for line in lines if "production" in line]
    assert len(marked) == 1 and "run-a" in marked[0]
    assert any("run-b" in line for line in lines)


def test_list_and_show_print_whole_run_ids(
    workspace: Workspace, fitted_model: Fitted, capsys: pytest.CaptureFixture[str]
) -> None:
    model, test = fitted_model
    run_ids = ["20261130T073709Z-402abc", "20261201T060000Z-9f00aa"]
    with Registry.open(None, workspace) as registry:
        for run_id in run_ids:
            metadata = BundleMetadata("cc895d160023", Settings(), parent_run_id=run_ids[0])
            registry.record_bundle(write_bundle(workspace, run_id, model, metadata))
    assert main(["registry", "promote", run_ids[1], *_ws(workspace)]) == 0
    capsys.readouterr()
    entity = str(test["entity_id"].iloc[0])
    for command in (["list"], ["show", entity]):
        assert main(["registry", *command, *_ws(workspace)]) == 0
        out = capsys.readouterr().out
        for run_id in run_ids:
            assert run_id in out, f"`glocal registry {command[0]}` cut {run_id}:\n{out}"


def test_promote_rollback_and_unknown_run(
    two_runs: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "promote", "run-a", *_ws(two_runs)]) == 0
    assert main(["registry", "promote", "run-b", *_ws(two_runs)]) == 0
    assert main(["registry", "rollback", *_ws(two_runs)]) == 0
    assert "production -> run-a (rolled back)" in capsys.readouterr().out
    assert main(["registry", "promote", "run-zzz", *_ws(two_runs)]) == 2
    err = capsys.readouterr().err
    assert "run-zzz" in err and "run-b" in err and "Traceback" not in err


def test_show_entity_card(
    two_runs: Workspace, fitted_model: Fitted, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["registry", "promote", "run-b", *_ws(two_runs)])
    capsys.readouterr()
    entity = str(fitted_model[0].decisions_["entity_id"].iloc[0])
    assert main(["registry", "show", entity, *_ws(two_runs)]) == 0
    out = capsys.readouterr().out
    assert f"Entity {entity}" in out and "run-a" in out and "run-b" in out
    assert main(["registry", "show", "ghost", *_ws(two_runs)]) == 2
    assert "ghost" in capsys.readouterr().err


def test_export_json(
    two_runs: Workspace, fitted_model: Fitted, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["registry", "promote", "run-a", *_ws(two_runs)])
    assert main(["registry", "export", "--json", *_ws(two_runs)]) == 0
    payload = json.loads((two_runs.models_dir / "registry.json").read_text())
    decisions = fitted_model[0].decisions_
    assert payload["run_id"] == "run-a"
    assert {m["customer_id"] for m in payload["models"]} == set(decisions["entity_id"])
    model = payload["models"][0]
    assert set(model) >= {"customer_id", "last_trained", "performance"}
    assert set(model["performance"]) >= {"val_mse_global", "val_mse_local", "decision"}
    assert main(["registry", "export", *_ws(two_runs)]) == 2  # the format must be named


def test_unreachable_registry_exits_2_and_writes_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOCAL_REGISTRY__URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    models_before = sorted(workspace.models_dir.rglob("*"))
    assert main(["registry", "list", *_ws(workspace)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the registry" in err and "Traceback" not in err
    assert sorted(workspace.models_dir.rglob("*")) == models_before
    assert not (workspace.models_dir / "registry.db").exists()


def test_empty_registry_lists_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "list", *_ws(workspace)]) == 0
    assert "No runs recorded yet" in capsys.readouterr().out
    assert Path(workspace.models_dir / "registry.db").exists()


def test_prune_deletes_old_bundles_and_keeps_records(
    three_runs: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "promote", "run-a", *_ws(three_runs)]) == 0
    assert main(["registry", "prune", "--keep", "1", "--dry-run", *_ws(three_runs)]) == 0
    assert "Would delete the bundles of 1 run(s): run-b" in capsys.readouterr().out
    assert (three_runs.models_dir / "bundles" / "run-b").is_dir()
    assert main(["registry", "prune", "--keep", "1", *_ws(three_runs)]) == 0
    assert "Deleted the bundles of 1 run(s): run-b" in capsys.readouterr().out
    assert not (three_runs.models_dir / "bundles" / "run-b").exists()
    assert main(["registry", "list", *_ws(three_runs)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "run-b" in x)
    assert "bundle pruned" in line
    assert main(["registry", "promote", "run-b", *_ws(three_runs)]) == 2
    assert "deleted by retention" in capsys.readouterr().err
    assert main(["registry", "prune", "--keep", "1", *_ws(three_runs)]) == 0
    assert "Nothing to prune" in capsys.readouterr().out
    assert main(["registry", "prune", "--keep", "0", *_ws(three_runs)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_default_alias_is_the_registry_production_alias() -> None:
    from glocal.cli import registry_commands
    from glocal.registry.registry import PRODUCTION

    assert registry_commands.PRODUCTION == PRODUCTION


def test_list_shows_the_newest_runs_and_every_aliased_one(
    three_runs: Workspace, fitted_model: Fitted, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "promote", "run-a", *_ws(three_runs)]) == 0
    capsys.readouterr()
    assert main(["registry", "list", "--limit", "1", *_ws(three_runs)]) == 0
    out = capsys.readouterr().out
    assert "run-c" in out and "run-a" in out  # the newest, and production
    assert "run-b" not in out
    assert "1 older run(s) not shown; --limit 0 shows all." in out
    assert main(["registry", "list", "--limit", "0", *_ws(three_runs)]) == 0
    assert "run-b" in capsys.readouterr().out
    entity = str(fitted_model[1]["entity_id"].iloc[0])
    assert main(["registry", "show", entity, "--limit", "2", *_ws(three_runs)]) == 0
    out = capsys.readouterr().out
    assert "run-c" in out and "run-b" in out and "run-a" not in out.split("Decision history")[1]
    assert "1 older row(s) not shown" in out
