"""Fixtures of the registry tests: a fitted model, bundles, and registries on every backend."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd
import pytest

from glocal.config import Settings, Workspace
from glocal.config.models import GlobalModelSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import HybridModel
from glocal.registry import Registry
from tests.conftest import POSTGRES_ENV, postgres_schema_url
from tests.models.conftest import time_split


@pytest.fixture(scope="session")
def fitted_model() -> tuple[HybridModel, pd.DataFrame]:
    panel, _ = make_synthetic_panel(
        50, 24, 3, heterogeneity=2.0, noise=0.3, seed=2, heterogeneous_fraction=0.5
    )
    train, validation, test = time_split(panel)
    settings = GlobalModelSettings(params={"n_estimators": 40}, entity_feature=False)
    return HybridModel(global_model=settings, seed=0).fit(train, validation), test


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def registry_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (SQLite in the workspace) or a PostgreSQL URL isolated in its own schema."""
    if request.param == "sqlite":
        yield None
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV} to run the registry tests on PostgreSQL")
    yield from postgres_schema_url(base)


@pytest.fixture
def registry(registry_url: str | None, workspace: Workspace) -> Iterator[Registry]:
    with Registry.open(registry_url, workspace) as opened:
        yield opened
