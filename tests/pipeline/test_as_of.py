"""`glocal run --as-of`: a run replayed as of a past day sees only the data before it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.core.errors import ConfigError, DataValidationError
from glocal.features import read_current_panel, read_panel
from glocal.pipeline import RunSummary, run_pipeline
from glocal.registry import DRIFT_BASELINE_FILE, Registry, read_drift_baseline
from tests.pipeline.conftest import write_demo

FIRST = dt.date(2011, 9, 5)
MIDNIGHT = dt.datetime(2011, 9, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, RunSummary, Path]:
    """A workspace after one run as of 2011-09-05 on demo data reaching 2012-01 (read only)."""
    root = tmp_path_factory.mktemp("as_of") / "ws"
    workspace = Workspace(root)
    workspace.init()
    data = write_demo(root.parent / "all.parquet")
    summary = run_pipeline(workspace, workspace.settings(), data=data, as_of=FIRST)
    return workspace, summary, data


def test_only_transactions_before_the_date_are_used(
    replayed: tuple[Workspace, RunSummary, Path],
) -> None:
    workspace, _, data = replayed
    assert pd.read_parquet(data)["InvoiceDate"].max() > pd.Timestamp("2012-01-01")
    current = read_current_panel(workspace)
    panel = read_panel(current.files.panel)
    latest = read_panel(current.files.latest)
    assert current.as_of == FIRST.isoformat()
    assert panel["cutoff"].max() <= pd.Timestamp(FIRST)
    assert latest["cutoff"].max() <= pd.Timestamp(FIRST)
    # a target is known only where its whole horizon lies before the as-of date
    known = panel.loc[panel["target"].notna(), "cutoff"]
    assert (known + pd.Timedelta(days=30) <= pd.Timestamp(FIRST)).all()


def test_everything_is_stamped_with_the_date(replayed: tuple[Workspace, RunSummary, Path]) -> None:
    workspace, summary, _ = replayed
    assert summary.run_id is not None and summary.run_id.startswith("20110905T000000Z-")
    with Registry.open(None, workspace) as registry:
        assert registry.run(summary.run_id).created_at == MIDNIGHT
        rows = registry.entity_models(summary.run_id)
        with registry._engine.connect() as connection:
            history = connection.exec_driver_sql("SELECT changed_at FROM alias_history")
            history = history.scalars().all()
    assert (rows["trained_at"] == pd.Timestamp(MIDNIGHT)).all()
    assert [pd.Timestamp(moment).date() for moment in history] == [FIRST]


def test_predictions_are_keyed_by_the_snapshot_cutoff(
    replayed: tuple[Workspace, RunSummary, Path],
) -> None:
    workspace, summary, _ = replayed
    latest = read_panel(read_current_panel(workspace).files.latest)
    cutoff = latest["cutoff"].max().date()
    assert summary.predictions == workspace.predictions_dir / "daily" / f"{cutoff}.parquet"
    assert set(pd.read_parquet(summary.predictions)["cutoff"]) == {pd.Timestamp(cutoff)}


def test_the_bundle_carries_a_verified_drift_baseline(
    replayed: tuple[Workspace, RunSummary, Path],
) -> None:
    workspace, summary, _ = replayed
    assert summary.run_id is not None
    bundle = workspace.models_dir / "bundles" / summary.run_id
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert DRIFT_BASELINE_FILE in manifest["files"]
    baseline = read_drift_baseline(bundle)
    assert baseline is not None
    assert "target" in baseline["columns"] and "recency_days" in baseline["columns"]
    assert "cutoff_month" not in baseline["columns"]  # calendar features move by design
    assert len(baseline["cutoffs"]) == 4


def test_going_back_in_time_is_refused_and_production_stays(
    replayed: tuple[Workspace, RunSummary, Path], tmp_path: Path
) -> None:
    import shutil

    workspace, summary, _ = replayed
    copy = Workspace(tmp_path / "ws")
    shutil.copytree(workspace.root, copy.root)
    with pytest.raises(ConfigError, match=r"--as-of 2011-08-01 goes back in time.*2011-09-05"):
        run_pipeline(copy, copy.settings(), as_of=dt.date(2011, 8, 1))
    with Registry.open(None, copy) as registry:
        assert registry.alias("production") == summary.run_id


def test_a_date_before_all_data_names_where_the_data_starts(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    data = write_demo(tmp_path / "all.parquet", n_customers=30)
    with pytest.raises(
        DataValidationError, match=r"--as-of 2009-01-01 keeps no transaction.*2010-12-01"
    ):
        run_pipeline(workspace, workspace.settings(), data=data, as_of=dt.date(2009, 1, 1))
