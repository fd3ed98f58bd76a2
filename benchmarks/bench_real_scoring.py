"""Batch-scoring throughput of a real production bundle (Online Retail), full hybrid predict.

Runs `glocal run --data ../shared/data/online_retail.parquet` into a temporary workspace,
loads the promoted bundle (checksums verified) and scores the real panel repeated to about
one million rows. Side by side, in one run:

* glocal's full hybrid prediction (global trees by the compiled kernel, local candidates,
  per-entity choice);
* LightGBM's own batch prediction of the same global trees alone (what scoring a plain
  global model costs; the hybrid adds the local side on top of it);
* the user's recipe, row by row as in its ``predict(features, cust_id)``: one
  ``global_model.predict([features])`` call per row (the same trees), timed on a sample;
  the unpickling of a local model per row, 17.4 ms in the measurements, is left out,
  which flatters the recipe.

Usage: .venv/bin/python benchmarks/bench_real_scoring.py [--data FILE] [--copies 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.features import read_current_panel, read_panel
from glocal.registry import Registry, load_bundle

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "online_retail.parquet"
SEED_SAMPLE = 2_000


def _best(function: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def run(data: Path, copies: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "retail"
        assert main(["run", "--data", str(data), "-w", str(root)]) == 0
        workspace = Workspace(root)
        with Registry.open(None, workspace) as registry:
            run_id = registry.alias("production")
            assert run_id is not None
            bundle = registry.resolve_bundle(run_id)
        model, _ = load_bundle(bundle)
        panel = read_panel(read_current_panel(workspace).files.panel)
        rows = pd.concat([panel] * copies, ignore_index=True)
        learner = next(iter(model.global_stage_.models_.values()))
        booster = learner.booster_
        matrix = learner._lightgbm_matrix(rows)
        forest = learner.compiled_forest()
        assert forest is not None, "the compiled kernel is unavailable"
        forest.predict(matrix[:10])  # compile outside the timing
        full = _best(lambda: model.predict(rows), repeat)
        compiled = _best(lambda: forest.predict(matrix), repeat)
        lightgbm = _best(lambda: booster.predict(matrix, num_threads=2), repeat)
        sample = matrix[:SEED_SAMPLE]
        seed = _best(lambda: [booster.predict(row[None, :]) for row in sample], 1)
        same = (forest.predict(matrix) == booster.predict(matrix, num_threads=2)).all()
        rate_full, rate_seed = len(rows) / full, len(sample) / seed
        print(
            f"bundle {run_id}: global stage {model.global_stage_.members_}; first learner "
            f"{booster.num_trees()} trees, entity feature {model.global_uses_entity_}; "
            f"{len(rows):,} rows, best of {repeat}"
        )
        print(f"  glocal full hybrid predict:        {rate_full:>12,.0f} rows/s  (target 300,000)")
        print(f"  one learner, compiled kernel:      {len(rows) / compiled:>12,.0f} rows/s")
        print(f"  one learner, LightGBM predict:     {len(rows) / lightgbm:>12,.0f} rows/s")
        print(f"  user's recipe, row by row (sample): {rate_seed:>11,.0f} rows/s")
        print(f"  compiled kernel == LightGBM, bit for bit: {bool(same)}")
        print(
            f"  speed-up: full hybrid {rate_full / rate_seed:,.0f}x the user's recipe; "
            f"compiled trees {lightgbm / compiled:.2f}x LightGBM's predict"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one copy, one repeat")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.copies, arguments.repeat = 1, 1
    run(arguments.data, arguments.copies, arguments.repeat)
