"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from glocal.config import Workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "online_retail.parquet"
POSTGRES_ENV = "GLOCAL_TEST_POSTGRES_URL"
"""Names a PostgreSQL server for the ``postgres`` tests (`.ci/run` starts one)."""


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """Path of the real UCI Online Retail file; the test is skipped where it is absent."""
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA} (it lives in ../shared/data/)")
    return REAL_DATA


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A freshly initialised workspace in a temporary directory."""
    ws = Workspace(tmp_path / "ws")
    ws.init()
    return ws


def postgres_schema_url(base: str) -> Iterator[str]:
    """Yield a URL whose search_path is a fresh schema; drop the schema afterwards."""
    schema = f"glocal_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL isolated in a fresh schema; skipped without a server."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    yield from postgres_schema_url(base)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto in server mode) on a local port, for the session.

    Its (fake) credentials are set in the environment, so child processes inherit them.
    """
    pytest.importorskip("moto.server", reason="the s3 tests need moto[server] (dev extra)")
    pytest.importorskip("s3fs", reason="the s3 tests need s3fs (the s3 extra)")
    port = _free_port()
    saved = {name: os.environ.get(name) for name in _S3_CREDENTIALS}
    os.environ.update(_S3_CREDENTIALS)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, "moto server exited"
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "glocal-test",
    "AWS_SECRET_ACCESS_KEY": "glocal-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the S3 server; returns its name."""
    import s3fs

    name = f"glocal-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(name)
    return name
