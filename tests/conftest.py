"""Fixtures shared by every test module."""

from __future__ import annotations

import os
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
