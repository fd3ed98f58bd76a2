"""End-to-end speed of `glocal run` on the real data, against the seed recipe's training.

1. `glocal run --data ../shared/data/online_retail.parquet` into a fresh temporary
   workspace, as a subprocess (wall time, interpreter start included). Target: <= 30 s.
2. The same command again with unchanged data: every step is skipped. Target: <= 5 s.
3. The seed recipe on the same panel's training rows (the production history: every row
   with a known target): a default `RandomForestRegressor()` global fit, then one
   `LinearRegression` per customer with >= 20 rows and one pickle file each (pickle only
   because it is the reference being measured). Printed side by side with the ratio.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [--quick]
(--quick fits the recipe's forest with 5 trees: a smoke run, not a measurement)
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

from glocal.config import Workspace
from glocal.features import categorical_columns, feature_columns, read_current_panel, read_panel
from glocal.pipeline.training import production_split

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT.parent / "shared" / "data" / "online_retail.parquet"
GLOCAL = [sys.executable, "-m", "glocal"]


def timed_run(workspace: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        [*GLOCAL, "run", "-w", str(workspace), "--data", str(DATA)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, result.stdout


def seed_recipe(rows: pd.DataFrame, directory: Path, trees: int) -> tuple[float, float, int]:
    features = feature_columns(rows)
    categorical = categorical_columns(rows)
    design = rows[features].copy()
    for column in categorical:
        design[column] = design[column].cat.codes
    x = design.to_numpy(dtype=np.float64)
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    y = rows["target"].to_numpy(dtype=np.float64)
    start = time.perf_counter()
    RandomForestRegressor(n_estimators=trees).fit(x, y)
    forest_seconds = time.perf_counter() - start

    numeric = [c for c in features if c not in categorical]
    start = time.perf_counter()
    models = 0
    for entity, group in rows.groupby("entity_id", observed=True):
        if len(group) < 20:
            continue
        local_x = group[numeric].fillna(0.0).to_numpy(dtype=np.float64)
        model = LinearRegression().fit(local_x, group["target"].to_numpy(dtype=np.float64))
        with (directory / f"{models}.pkl").open("wb") as handle:
            pickle.dump(model, handle)
        models += 1
        del entity
    local_seconds = time.perf_counter() - start
    return forest_seconds, local_seconds, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5-tree forest: a smoke run")
    args = parser.parse_args()
    trees = 5 if args.quick else 100
    if not DATA.is_file():
        sys.exit(f"real data not found at {DATA}")
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        first, out = timed_run(workspace)
        print(out)
        second, out = timed_run(workspace)
        print(out)

        ws = Workspace(workspace)
        settings = ws.settings()
        panel = read_panel(read_current_panel(ws).files.panel)
        layout = production_split(panel, settings.split, settings.features.horizon_days)
        rows = layout.history
        pickles = Path(tmp) / "seed_models"
        pickles.mkdir()
        forest, local, models = seed_recipe(rows, pickles, trees)

    recipe = forest + local
    print(f"training rows (the production history): {len(rows):,}")
    print(f"glocal run, first run (fresh workspace, everything):  {first:6.1f} s  (target <= 30 s)")
    print(f"glocal run, second run (unchanged data, all skipped): {second:6.1f} s  (target <= 5 s)")
    print(f"seed recipe: RandomForestRegressor({trees} trees) fit:     {forest:6.1f} s")
    print(f"seed recipe: {models:,} LinearRegression + pickle each:  {local:6.1f} s")
    print(f"seed recipe training total:                           {recipe:6.1f} s")
    print(f"ratio seed recipe training / whole first glocal run:  {recipe / first:6.1f}x")


if __name__ == "__main__":
    main()
