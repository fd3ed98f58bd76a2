"""Batch-scoring throughput of a real production bundle (Online Retail), full hybrid predict.

Runs `glocal run --data ../shared/data/online_retail.parquet` into a temporary workspace,
loads the promoted bundle (checksums verified) and scores the real panel repeated to about
one million rows; prints rows per second for the full hybrid prediction and for the
LightGBM traversal alone, which bounds it.

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
        booster = model.global_model_.booster_
        matrix = model.global_model_._lightgbm_matrix(rows)
        full = _best(lambda: model.predict(rows), repeat)
        trees = _best(lambda: booster.predict(matrix, num_threads=2), repeat)
        print(
            f"bundle {run_id}: {booster.num_trees()} trees, entity feature "
            f"{model.global_uses_entity_}"
        )
        print(
            f"full hybrid predict: {len(rows):,} rows in {full:.2f} s = "
            f"{len(rows) / full:,.0f} rows/s (best of {repeat}); target >= 300,000"
        )
        print(f"LightGBM traversal alone (2 threads): {len(rows) / trees:,.0f} rows/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    run(arguments.data, arguments.copies, arguments.repeat)
