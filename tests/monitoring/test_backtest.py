"""`glocal backtest` replays the routine through `glocal run --as-of` and `glocal monitor`."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.core.errors import ConfigError
from glocal.monitoring import backtest_dates, run_backtest
from glocal.monitoring.backtest import PERIOD_COLUMNS
from glocal.registry import Registry
from tests.pipeline.conftest import write_demo


@pytest.mark.slow  # eight replayed weeks, each a full run: about a minute
def test_replay_writes_one_row_per_date_and_never_touches_the_user_registry(
    tmp_path: Path,
) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    data = write_demo(tmp_path / "all.parquet", n_customers=120)
    start, end = dt.date(2011, 9, 5), dt.date(2011, 10, 24)
    result = run_backtest(workspace, workspace.settings(), data, start, end, 7)
    assert result.directory == workspace.evaluation_dir / "backtest" / "2011-09-05_2011-10-24"
    periods = pd.read_parquet(result.directory / "periods.parquet")
    assert list(periods.columns) == list(PERIOD_COLUMNS)
    assert [d.date() for d in periods["date"]] == backtest_dates(start, end, 7)
    # the routine: the global model weekly, predictions every period, errors once realized
    assert periods["global_retrained"].all()
    assert (periods["entities_scored"] > 0).all()
    assert (
        periods["run_id"].str.startswith(tuple(d.strftime("%Y%m%d") for d in periods["date"])).all()
    )
    realized = periods.loc[periods["realized_cutoff"].notna()]
    assert len(realized) >= 2  # a 30-day horizon is realized from the sixth week on
    assert (realized["realized_cutoff"] + pd.Timedelta(days=30) <= realized["date"]).all()
    errors = [f"{m}_{f}" for m in ("mse", "mae") for f in ("served", "global", "naive", "btyd")]
    assert realized[errors].notna().all().all()
    page = (result.directory / "report.html").read_text()
    assert re.findall(r"src='data:image/png;base64,", page)
    # the user's own registry holds nothing: the replay had its own
    with Registry.open(None, workspace) as registry:
        assert registry.list_runs().empty and registry.alias("production") is None
    assert not [p for p in result.directory.parent.iterdir() if p.name.startswith(".")]


def test_bad_dates_and_spacing_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="--end 2011-01-01 is before --start 2011-02-01"):
        backtest_dates(dt.date(2011, 2, 1), dt.date(2011, 1, 1), 7)
    root = tmp_path / "ws"
    Workspace(root).init()
    data = write_demo(tmp_path / "all.parquet", n_customers=20)
    args = ["backtest", "-w", str(root), "--data", str(data), "--start", "2011-09-05"]
    assert main([*args, "--every", "weekly"]) == 2
    assert "--every 'weekly' is not a number of days" in capsys.readouterr().err
    assert main([*args[:-1], "5/9/2011"]) == 2
    assert "--start '5/9/2011' is not a date" in capsys.readouterr().err
    assert (
        main(
            [
                "backtest",
                "-w",
                str(root),
                "--data",
                str(tmp_path / "nope.csv"),
                "--start",
                "2011-09-05",
            ]
        )
        == 2
    )
    assert "nope.csv does not exist" in capsys.readouterr().err
    assert main([*args[:-1], "2030-01-01"]) == 2
    assert "--start 2030-01-01 is after the end of the data" in capsys.readouterr().err
    assert not list((root / "evaluation" / "backtest").iterdir())  # nothing left behind
