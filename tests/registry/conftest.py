"""Fixtures of the registry tests: a fitted model, bundles, and registries on every backend."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pandas as pd
import pytest

from glocal.config import Settings, Workspace
from glocal.config.models import GlobalModelSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import HybridModel
from glocal.registry import (
    BundleMetadata,
    GlobalVersion,
    Registry,
    RunRecord,
    entity_models_frame,
    write_bundle,
)
from tests.conftest import POSTGRES_ENV, postgres_schema_url
from tests.models.conftest import history_test, synthetic_hybrid


@pytest.fixture(scope="session")
def fitted_model() -> tuple[HybridModel, pd.DataFrame]:
    panel, _ = make_synthetic_panel(
        50, 40, 3, heterogeneity=2.0, noise=0.3, seed=2, heterogeneous_fraction=0.5
    )
    history, test = history_test(panel)
    settings = GlobalModelSettings(params={"n_estimators": 40}, entity_feature=False)
    return synthetic_hybrid(global_model=settings).fit(history), test


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


T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
"""Creation time of the first recorded run in these tests."""


def run_record(run_id: str, days: int, parent: str | None = None) -> RunRecord:
    """A run record created ``days`` after :data:`T0`, its bundle at the usual path."""
    return RunRecord(
        run_id=run_id,
        created_at=T0 + dt.timedelta(days=days),
        data_version="v1",
        config_hash="c" * 64,
        code_version="0.1.0",
        bundle_path=f"models/bundles/{run_id}",
        metrics={"mse": float(days)},
        global_version_id="gm-1",
        parent_run_id=parent,
    )


def entity_rows(model: HybridModel, days: int, carried: bool = False) -> pd.DataFrame:
    """The per-entity registry rows of ``model``, trained ``days`` after :data:`T0`."""
    return entity_models_frame(
        model.decisions_,
        trained_at=T0 + dt.timedelta(days=days),
        global_version_id="gm-1",
        carried_forward=carried,
    )


def record_run(registry: Registry, model: HybridModel, run_id: str, days: int) -> None:
    """Record a run with a real bundle at its ``bundle_path`` (promote verifies it)."""
    created = T0 + dt.timedelta(days=days)
    write_bundle(
        registry._workspace, run_id, model, BundleMetadata("v1", Settings(), created_at=created)
    )
    version = GlobalVersion("gm-1", run_id, T0, "v1", 40, False)
    registry.record_run(run_record(run_id, days), version, entity_rows(model, days))
