"""`glocal backtest` on the real data, 2011-06 to 2011-11 every 7 days, against the recipe.

1. `glocal backtest --data ../shared/data/online_retail.parquet --start 2011-06-06
   --end 2011-11-28 --every 7d` in a fresh workspace, as a subprocess (wall time,
   interpreter start included): 26 replayed weeks, each a full `glocal run --as-of` (the
   global model is due every week) and a `glocal monitor`. Target: <= 3 minutes.
2. The seed recipe's training (`bench_pipeline.seed_recipe`: a default random forest, then a
   pickled `LinearRegression` per customer) on the first and the last replayed week's
   training rows, in the same run. Its total over the 26 weeks is interpolated linearly
   between the two (it is printed as an estimate: replaying it in full would take longer
   than this benchmark is allowed to).

Usage: .venv/bin/python benchmarks/bench_backtest.py [--quick]
(--quick replays 3 weeks and fits the recipe's forest with 5 trees: a smoke run)
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench_pipeline import DATA, GLOCAL, seed_recipe
from glocal.config import Settings, Workspace
from glocal.data import load_clean_transactions
from glocal.features import build_panel
from glocal.pipeline.training import production_split

START = dt.date(2011, 6, 6)
END = dt.date(2011, 11, 28)


def recipe_seconds(
    clean: pd.DataFrame, day: dt.date, scratch: Path, trees: int
) -> tuple[float, int]:
    """Return the recipe's training seconds on the rows a run as of ``day`` trains on."""
    settings = Settings()
    panel = build_panel(clean.loc[clean["timestamp"] < pd.Timestamp(day)], settings.features)
    rows = production_split(panel, settings.split, settings.features.horizon_days).history
    directory = scratch / f"seed-{day}"
    directory.mkdir()
    forest, local, _ = seed_recipe(rows, directory, trees)
    return forest + local, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 weeks, a 5-tree forest")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"real data not found at {DATA}")
    end = START + dt.timedelta(days=14) if args.quick else END
    trees = 5 if args.quick else 100
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        subprocess.run([*GLOCAL, "init", str(workspace)], check=True, capture_output=True)
        start = time.perf_counter()
        done = subprocess.run(
            [
                *GLOCAL,
                "backtest",
                "-w",
                str(workspace),
                "--data",
                str(DATA),
                "--start",
                START.isoformat(),
                "--end",
                end.isoformat(),
                "--every",
                "7d",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - start
        print(done.stdout)
        output = workspace / "evaluation" / "backtest" / f"{START}_{end}"
        periods = pd.read_parquet(output / "periods.parquet")
        clean = load_clean_transactions(Workspace(output / "workspace"))
        first, first_rows = recipe_seconds(clean, START, Path(tmp), trees)
        last, last_rows = recipe_seconds(clean, end, Path(tmp), trees)
    weeks = len(periods)
    recipe = (first + last) / 2 * weeks
    shown = periods.assign(date=periods["date"].dt.date)[
        [
            "date",
            "global_retrained",
            "entities_retrained",
            "mse_served",
            "mse_global",
            "demoted",
            "seconds",
        ]
    ]
    print(shown.to_string(index=False))
    print(
        f"glocal backtest, {weeks} weeks (subprocess, everything):  {seconds:6.1f} s  "
        "(target <= 180 s)"
    )
    print(
        f"  per week: mean {periods['seconds'].mean():.1f} s, max {periods['seconds'].max():.1f} s"
    )
    print(f"seed recipe training, first week ({first_rows:,} rows):    {first:6.1f} s")
    print(f"seed recipe training, last week ({last_rows:,} rows):     {last:6.1f} s")
    print(f"seed recipe training over {weeks} weeks (interpolated):  {recipe:6.1f} s")
    print(f"ratio recipe training / glocal backtest:                 {recipe / seconds:6.1f}x")


if __name__ == "__main__":
    main()
