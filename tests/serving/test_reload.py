"""Hot reload: the service follows the production alias without failing a request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from glocal.config import Workspace
from glocal.features import read_current_panel, read_panel
from glocal.registry import Registry
from tests.serving.conftest import LiveServer, _free_port


def _served_run(client: httpx.Client) -> str:
    run_id: str = client.get("/health").json()["run_id"]
    return run_id


def _wait_for_run(client: httpx.Client, run_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _served_run(client) != run_id:
        assert time.monotonic() < deadline, f"the service never switched to {run_id}"
        time.sleep(0.05)


def test_reload_under_load_fails_no_request(
    workspace: Workspace, two_runs: tuple[Workspace, str, str]
) -> None:
    _, first, second = two_runs
    statuses: list[int] = []
    runs: list[str] = []
    stop = threading.Event()
    with LiveServer(workspace, workspace.settings()) as server:
        with server.client() as client:
            assert _served_run(client) == second

        def hammer() -> None:
            with server.client() as client:
                while not stop.is_set():
                    body = {"items": [{"entity_id": e} for e in ids]}
                    response = client.post("/predict/batch", json=body)
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        runs.extend({p["run_id"] for p in response.json()["predictions"]})

        ids = _snapshot_entities(workspace)[:20]
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        with Registry.open(None, workspace) as registry:
            registry.promote(first)
        with server.client() as client:
            _wait_for_run(client, first)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(30)
    assert statuses and set(statuses) == {200}
    assert first in runs and second in runs
    assert runs[-1] == first


def _snapshot_entities(workspace: Workspace) -> list[str]:
    """Ids of entities in the latest materialized snapshot."""
    latest = read_panel(read_current_panel(workspace).files.latest)
    return [str(entity) for entity in latest["entity_id"].unique()]


def test_a_bundle_that_fails_verification_is_refused(
    workspace: Workspace, two_runs: tuple[Workspace, str, str]
) -> None:
    _, first, second = two_runs
    with LiveServer(workspace, workspace.settings()) as server, server.client() as client:
        assert _served_run(client) == second
        with Registry.open(None, workspace) as registry:
            bundle = registry.resolve_bundle(first)
            victim = next(bundle.glob("decisions/*.parquet"))
            damaged = victim.read_bytes() + b"\0"  # damaged on disk after it was recorded
            victim.unlink()  # a new file, not the inode the next bundle may share
            victim.write_bytes(damaged)
            registry.promote(first, verify=False)
        deadline = time.monotonic() + 30
        while "refused" not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the damaged bundle was never tried"
            time.sleep(0.05)
        assert _served_run(client) == second  # the old run keeps serving
        assert client.post("/predict", json={"entity_id": "nobody"}).status_code == 404


def test_sighup_reloads_at_once(workspace: Workspace, two_runs: tuple[Workspace, str, str]) -> None:
    _, first, second = two_runs
    port = _free_port()
    env = {
        **os.environ,
        "GLOCAL_SERVING__RELOAD_POLL_SECONDS": "0",  # only SIGHUP triggers a check
        "GLOCAL_SERVING__PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "glocal", "serve", "-w", str(workspace.root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _served_run(client) == second:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
            with Registry.open(None, workspace) as registry:
                registry.promote(first)
            time.sleep(1.0)
            assert _served_run(client) == second  # no polling: nothing happens by itself
            process.send_signal(signal.SIGHUP)
            _wait_for_run(client, first, timeout=30)
    finally:
        process.terminate()
        process.wait(30)
