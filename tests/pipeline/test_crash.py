"""Kill a real `glocal run` subprocess with SIGKILL at many points; production must survive."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glocal.config import Workspace
from glocal.pipeline import RunSummary, run_pipeline
from glocal.registry import Registry, list_bundles, verify_bundle
from tests.pipeline.conftest import append_orders

Run = tuple[Workspace, RunSummary, Path]

_PAUSES = ("train", "state", "bundle", "register", "promote", "predict", "prune")


REPO = Path(__file__).resolve().parents[2]


def _start(root: Path, data: Path, pause: str | None) -> subprocess.Popen[str]:
    # a child process that runs the pipeline with a pause hook (tests/pipeline/paused_run.py)
    arguments = [str(root), str(data), *([pause] if pause else [])]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pipeline.paused_run", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def test_the_environment_cannot_pause_a_production_run(after_first_run: Run) -> None:
    workspace, _, data = after_first_run
    day2 = _new_day(workspace, data)
    env = {**os.environ, "GLOCAL_TEST_PAUSE_AT": "train"}  # the hook that used to exist
    done = subprocess.run(
        [sys.executable, "-m", "glocal", "run", "-w", str(workspace.root), "--data", str(day2)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "paused" not in done.stderr


def _wait_for_pause(process: subprocess.Popen[str], timeout: float = 120) -> None:
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=1) and "glocal: paused at" in process.stderr.readline():
            return
        assert process.poll() is None, "the run ended before reaching its pause point"
    raise AssertionError("the run never reached its pause point")


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def _check_production(workspace: Workspace, allowed: set[str]) -> str:
    with Registry.open(None, workspace) as registry:
        production = registry.alias("production")
        assert production in allowed
        verify_bundle(registry.resolve_bundle(production))
    return production


def _run_after_crash(workspace: Workspace, data: Path) -> None:
    summary = run_pipeline(workspace, workspace.settings(), data=data)
    assert summary.production_run_id is not None
    _check_production(workspace, {summary.production_run_id})
    leftovers = list((workspace.models_dir / "bundles").glob(".*.tmp"))
    assert leftovers == []
    finished = {path.name for path in list_bundles(workspace)}
    states = {path.name for path in (workspace.models_dir / "pipeline").iterdir()}
    assert states <= finished


def _new_day(workspace: Workspace, data: Path) -> Path:
    return append_orders(data, data.parent / "day2.parquet", [14354, 14677, 12591])


@pytest.mark.parametrize("pause", ["promote"])
def test_kill_between_register_and_promote(after_first_run: Run, pause: str) -> None:
    workspace, first, data = after_first_run
    assert first.run_id is not None
    day2 = _new_day(workspace, data)
    process = _start(workspace.root, day2, pause)
    _wait_for_pause(process)
    _kill(process)
    _check_production(workspace, {first.run_id})
    _run_after_crash(workspace, day2)


@pytest.mark.slow
@pytest.mark.parametrize("pause", _PAUSES)
def test_kill_at_every_step(after_first_run: Run, pause: str) -> None:
    workspace, first, data = after_first_run
    assert first.run_id is not None
    day2 = _new_day(workspace, data)
    process = _start(workspace.root, day2, pause)
    _wait_for_pause(process)
    _kill(process)
    finished = {path.name for path in list_bundles(workspace)}
    _check_production(workspace, {first.run_id, *finished})
    _run_after_crash(workspace, day2)


@pytest.mark.slow
def test_kill_after_increasing_delays(after_first_run: Run) -> None:
    workspace, first, data = after_first_run
    assert first.run_id is not None
    day2 = _new_day(workspace, data)
    for delay in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        process = _start(workspace.root, day2, None)
        time.sleep(delay)
        _kill(process)
        finished = {path.name for path in list_bundles(workspace)}
        _check_production(workspace, {first.run_id, *finished})
    _run_after_crash(workspace, day2)
