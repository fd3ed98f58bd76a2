"""Tests of ``glocal features``: files written, --describe, and bad input as exit code 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.data import ingest_file, latest_data_version, write_demo_file
from glocal.features import read_panel


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace holding one ingested data version of 80 demo customers."""
    workspace = Workspace(tmp_path_factory.mktemp("cli") / "ws")
    workspace.init()
    ingest_file(write_demo_file(workspace, n_customers=80), workspace, workspace.settings())
    return workspace


def set_settings(workspace: Workspace, **sections: dict[str, object]) -> None:
    workspace.settings_path.write_text(yaml.safe_dump(sections), encoding="utf-8")


def run(*args: str | Path) -> int:
    return main([str(arg) for arg in args])


@pytest.fixture
def fresh_settings(demo_workspace: Workspace):
    """Restore the default settings of the shared workspace after a test changes them."""
    yield demo_workspace
    set_settings(demo_workspace)


def test_features_writes_panel_and_latest(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
):
    assert run("features", "-w", demo_workspace.root) == 0
    version = latest_data_version(demo_workspace).version
    panel = read_panel(demo_workspace.processed_dir(version) / "panel.parquet")
    latest = read_panel(demo_workspace.processed_dir(version) / "features_latest.parquet")
    assert list(panel.columns[:3]) == ["entity_id", "cutoff", "target"]
    assert latest["cutoff"].nunique() == 1
    assert set(latest["entity_id"]) == set(panel["entity_id"])
    out = capsys.readouterr().out
    assert f"Feature panel of data version {version}" in out
    assert "panel.parquet" in out


def test_describe_prints_the_blocks(demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]):
    assert run("features", "-w", demo_workspace.root, "--describe") == 0
    out = capsys.readouterr().out
    assert "embargo 30 days" in out
    for block in ("history", "fold 1", "fold 3", "test"):
        assert block in out


def test_nothing_ingested_yet(workspace: Workspace, capsys: pytest.CaptureFixture[str]):
    assert run("features", "-w", workspace.root) == 2
    assert "run `glocal ingest FILE` first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("features", "key"),
    [
        ({"horizon_days": 0}, "'features.horizon_days'"),
        ({"horizon_days": -30}, "'features.horizon_days'"),
        ({"windows_days": [7, 0]}, "'features.windows_days.1'"),
        ({"windows_days": [30, -7]}, "'features.windows_days.1'"),
        ({"windows_days": [7, 7]}, "'features.windows_days'"),
        ({"detail_window_days": 0}, "'features.detail_window_days'"),
        ({"cutoff_every_days": 0}, "'features.cutoff_every_days'"),
    ],
)
def test_non_positive_horizon_or_window_is_exit_2(
    fresh_settings: Workspace,
    capsys: pytest.CaptureFixture[str],
    features: dict[str, object],
    key: str,
):
    set_settings(fresh_settings, features=features)
    assert run("features", "-w", fresh_settings.root) == 2
    err = capsys.readouterr().err
    assert key in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"first_cutoff": "2030-01-07"}, "features.first_cutoff 2030-01-07 is outside the data"),
        ({"last_cutoff": "2001-01-01"}, "features.last_cutoff 2001-01-01 is outside the data"),
    ],
)
def test_cutoff_range_outside_the_data_is_exit_2(
    fresh_settings: Workspace,
    capsys: pytest.CaptureFixture[str],
    features: dict[str, object],
    message: str,
):
    set_settings(fresh_settings, features=features)
    assert run("features", "-w", fresh_settings.root) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_split_without_room_for_the_folds_is_exit_2(
    fresh_settings: Workspace, capsys: pytest.CaptureFixture[str]
):
    set_settings(fresh_settings, split={"validation_days": 300})
    processed = fresh_settings.root / "data" / "processed"
    before = {p: p.stat().st_mtime_ns for p in processed.rglob("*")}
    assert run("features", "-w", fresh_settings.root, "--describe") == 2
    err = capsys.readouterr().err
    # the data cannot hold a 28-day test, a 30-day gap and 3 folds of 300 days
    assert "no history block" in err or "too little history for 3 validation folds" in err
    assert "split.validation_days" in err
    assert "Traceback" not in err
    assert {p: p.stat().st_mtime_ns for p in processed.rglob("*")} == before  # nothing written


def store_file(tmp_path: Path, frame: pd.DataFrame | None = None) -> Path:
    if frame is None:
        weeks = pd.date_range("2023-01-02", periods=52, freq="7D")
        frame = pd.DataFrame(
            [
                {"store": s, "week": w, "footfall": 100.0 + i, "sales": float(i * s)}
                for s in (1, 2)
                for i, w in enumerate(weeks)
            ]
        )
    path = tmp_path / "stores.parquet"
    frame.to_parquet(path, index=False)
    return path


STORE_PANEL = {"entity_column": "store", "time_column": "week", "target_column": "sales"}


def test_generic_panel_mode(
    fresh_settings: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = store_file(tmp_path)
    set_settings(fresh_settings, panel={"mode": "panel", "path": str(path), **STORE_PANEL})
    assert run("features", "-w", fresh_settings.root, "--describe") == 0
    out = capsys.readouterr().out
    assert "104 (104 with a known target)" in out
    assert "fold 1" in out


def test_panel_option_overrides_the_mode(
    fresh_settings: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    set_settings(fresh_settings, panel=STORE_PANEL)
    assert run("features", "-w", fresh_settings.root, "--panel", store_file(tmp_path)) == 0
    assert "entities" in capsys.readouterr().out


def test_panel_mode_without_a_file_is_exit_2(
    fresh_settings: Workspace, capsys: pytest.CaptureFixture[str]
):
    set_settings(fresh_settings, panel={"mode": "panel"})
    assert run("features", "-w", fresh_settings.root) == 2
    assert "set panel.path in config/settings.yaml or pass --panel FILE" in capsys.readouterr().err


def test_panel_missing_columns_is_exit_2(
    fresh_settings: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    set_settings(fresh_settings, panel={**STORE_PANEL, "time_column": "date"})
    assert run("features", "-w", fresh_settings.root, "--panel", store_file(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "['date'] declared in panel.time_column are missing from stores.parquet" in err
    assert "found columns: ['store', 'week', 'footfall', 'sales']" in err
    assert "Traceback" not in err


def test_panel_duplicates_are_exit_2(
    fresh_settings: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    frame = pd.DataFrame(
        {"store": [1, 1, 2], "week": ["2023-01-02"] * 3, "footfall": 1.0, "sales": 2.0}
    )
    set_settings(fresh_settings, panel=STORE_PANEL)
    assert run("features", "-w", fresh_settings.root, "--panel", store_file(tmp_path, frame)) == 2
    err = capsys.readouterr().err
    assert "2 rows that share their (entity, time) pair" in err
    assert "(1, 2023-01-02)" in err


@pytest.mark.parametrize(
    ("sales", "message"),
    [
        (["a lot", "1.0"], "holds non-numeric values, e.g. ['a lot']"),
        ([None, None], "no value at all"),
    ],
)
def test_panel_bad_target_is_exit_2(
    fresh_settings: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sales: list[str | None],
    message: str,
):
    frame = pd.DataFrame(
        {"store": [1, 2], "week": ["2023-01-02"] * 2, "footfall": 1.0, "sales": sales}
    )
    set_settings(fresh_settings, panel=STORE_PANEL)
    assert run("features", "-w", fresh_settings.root, "--panel", store_file(tmp_path, frame)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.realdata
def test_real_data_end_to_end(
    real_data_path: Path, workspace: Workspace, capsys: pytest.CaptureFixture[str]
):
    ingest_file(real_data_path, workspace, workspace.settings())
    assert run("features", "-w", workspace.root, "--describe") == 0
    out = capsys.readouterr().out
    assert "137,027 (120,147 with a known target)" in out
    assert "2010-12-06" in out and "2011-11-07" in out
