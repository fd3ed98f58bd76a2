from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.pipeline import PREDICTION_FILE_COLUMNS, WorkspaceLock
from glocal.registry import Registry
from tests.pipeline.conftest import first_run  # noqa: F401 - the shared fixture


@pytest.fixture
def run_workspace(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, str]:
    workspace, summary, data = request.getfixturevalue("first_run")
    copy = tmp_path / "ws"
    shutil.copytree(workspace.root, copy)
    assert summary.run_id is not None
    return copy, data, summary.run_id


def _production(root: Path) -> str | None:
    with Registry.open(None, Workspace(root)) as registry:
        return registry.alias("production")


def test_run_without_arguments_initialises_and_uses_demo_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GLOCAL_PIPELINE__DEMO_CUSTOMERS", "120")
    root = tmp_path / "fresh"
    assert main(["run", "-w", str(root)]) == 0
    out = capsys.readouterr().out
    assert "entities retrained" in out and "carried forward" in out
    assert Workspace(root).is_initialized()
    assert _production(root) is not None
    assert list((root / "predictions" / "daily").glob("*.parquet"))


def test_second_cli_run_reports_skipped_steps(
    run_workspace: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, data, run_id = run_workspace
    assert main(["run", "-w", str(root), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out
    assert _production(root) == run_id


def test_missing_data_file_exits_2_without_traceback(
    run_workspace: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, run_id = run_workspace
    assert main(["run", "-w", str(root), "--data", str(root / "missing.csv")]) == 2
    captured = capsys.readouterr()
    assert "missing.csv" in captured.err and "does not exist" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert _production(root) == run_id


def test_run_refuses_while_another_run_holds_the_lock(
    run_workspace: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, run_id = run_workspace
    with WorkspaceLock(root, command="glocal run"):
        assert main(["run", "-w", str(root)]) == 2
    err = capsys.readouterr().err
    assert "another glocal run" in err and "pid" in err
    assert _production(root) == run_id


def test_predict_writes_the_batch_file(
    run_workspace: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, run_id = run_workspace
    assert main(["predict", "-w", str(root), "--date", "2012-01-06"]) == 0
    frame = pd.read_parquet(root / "predictions" / "batch" / "2012-01-06.parquet")
    assert tuple(frame.columns) == PREDICTION_FILE_COLUMNS
    assert set(frame["run_id"]) == {run_id}
    assert run_id in capsys.readouterr().out


def test_predict_rejects_a_bad_date(run_workspace: tuple[Path, Path, str]) -> None:
    root, _, _ = run_workspace
    assert main(["predict", "-w", str(root), "--date", "yesterday"]) == 2


def test_predict_without_production_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["init", str(tmp_path / "ws")])
    assert main(["predict", "-w", str(tmp_path / "ws")]) == 2
    assert "glocal run" in capsys.readouterr().err


def test_run_json_stop_after_register_then_promote(
    run_workspace: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, run_id = run_workspace
    args = ["run", "-w", str(root), "--retrain-global", "--stop-after", "register", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)  # one line of JSON, nothing else
    assert summary["run_id"] != run_id and _production(root) == run_id
    assert main(["registry", "promote", summary["run_id"], "-w", str(root)]) == 0
    assert _production(root) == summary["run_id"]


def test_run_stop_after_an_unknown_step_exits_2_naming_the_steps(
    run_workspace: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, _ = run_workspace
    assert main(["run", "-w", str(root), "--stop-after", "publish"]) == 2
    err = capsys.readouterr().err
    assert "--stop-after publish" in err and "register" in err and "Traceback" not in err
