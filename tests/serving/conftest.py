"""Fixtures of the service tests: a workspace with two runs, and real uvicorn servers."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn

from glocal.config import Settings, Workspace
from glocal.pipeline import run_pipeline
from glocal.serving import create_app
from tests.pipeline.conftest import append_orders, write_demo

FAST_SETTINGS = """\
global_model:
  params: {n_estimators: 100, learning_rate: 0.1}
serving:
  reload_poll_seconds: 0.2
  log_flush_seconds: 0.2
"""


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, str]:
    """A workspace whose production is its second run; its first run is kept too."""
    root = tmp_path_factory.mktemp("serving") / "ws"
    workspace = Workspace(root)
    workspace.init()
    workspace.settings_path.write_text(FAST_SETTINGS)
    day1 = write_demo(root.parent / "day1.parquet", n_customers=120)
    first = run_pipeline(workspace, workspace.settings(), data=day1)
    customers = pd.read_parquet(day1)["CustomerID"].dropna().astype(int).unique()[:5]
    day2 = append_orders(day1, root.parent / "day2.parquet", list(customers), days_later=8)
    second = run_pipeline(workspace, workspace.settings(), data=day2, retrain_global=True)
    assert first.run_id and second.run_id and first.run_id != second.run_id
    return workspace, first.run_id, second.run_id


@pytest.fixture
def workspace(two_runs: tuple[Workspace, str, str], tmp_path: Path) -> Workspace:
    """A private copy of :func:`two_runs`'s workspace, free to modify."""
    copy = tmp_path / "ws"
    shutil.copytree(two_runs[0].root, copy)
    return Workspace(copy)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A real uvicorn server on a free local port, in a background thread."""

    def __init__(self, workspace: Workspace, settings: Settings) -> None:
        self.app = create_app(workspace, settings)
        self.port = _free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            assert self.thread.is_alive(), "the server thread died"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)


@pytest.fixture
def live(workspace: Workspace) -> Iterator[LiveServer]:
    with LiveServer(workspace, workspace.settings()) as server:
        yield server
