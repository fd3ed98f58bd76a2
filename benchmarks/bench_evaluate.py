"""`glocal evaluate` with default settings on a large panel of mostly one-off customers.

Generates intermittent transactions (``glocal.data.intermittent``: 24,000 customers over
760 days, about 1.6 million weekly panel rows), then times `glocal ingest`, `glocal
features` and `glocal evaluate` (defaults: every policy, the seed recipe and BTYD
included) as subprocesses and reports each one's wall time and peak memory (max RSS of the
child). Targets for evaluate: <= 3 minutes and <= 3 GB on the 2-core machine.

The reference is the user's recipe as the issue measured it: a default random forest fitted
on every history row took more than 15 minutes on a 1.1 M-row history; glocal fits it on a
20,000-row sample (``SEED_RECIPE_MAX_ROWS``). `--forest-sample N` times the recipe's forest
on N history rows in the same run, so the full-size cost can be extrapolated.

Usage: .venv/bin/python benchmarks/bench_evaluate.py [--customers 24000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glocal.data.intermittent import generate_intermittent_transactions

GLOCAL = [sys.executable, "-m", "glocal"]


_MEASURE = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
"""A wrapper process with one child: its children's max RSS is that command's peak."""


def timed(arguments: list[str]) -> tuple[float, float]:
    """Run a glocal command; return its wall time and the peak RSS of its process (GiB)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *GLOCAL, *arguments],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    return seconds, int(done.stdout.strip()) / 1024**2


def forest_seconds(panel_path: Path, rows: int) -> float:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    panel = pd.read_parquet(panel_path)
    known = panel[panel["target"].notna()].sample(n=rows, random_state=0)
    numeric = known.drop(columns=["entity_id", "cutoff", "target"]).select_dtypes("number")
    x = np.nan_to_num(numeric.to_numpy(dtype=np.float64))
    start = time.perf_counter()
    RandomForestRegressor(n_jobs=-1, random_state=0).fit(x, known["target"].to_numpy())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=24_000)
    parser.add_argument("--days", type=int, default=760)
    parser.add_argument("--forest-sample", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="1,500 customers: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.days, args.forest_sample = 1_500, 400, 5_000
    orders, _ = generate_intermittent_transactions(args.customers, days=args.days, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        data, root = Path(tmp) / "orders.parquet", Path(tmp) / "ws"
        orders.to_parquet(data)
        subprocess.run([*GLOCAL, "init", str(root)], check=True, capture_output=True)
        ingest, _ = timed(["ingest", str(data), "-w", str(root)])
        features, _ = timed(["features", "-w", str(root)])
        evaluate, peak = timed(["evaluate", "-w", str(root)])
        metrics = json.loads((root / "evaluation" / "metrics.json").read_text())
        panel_path = next((root / "data" / "processed").glob("*/panel.parquet"))
        forest = forest_seconds(panel_path, args.forest_sample)
    rows, history = metrics["dataset"]["rows"], metrics["split"]["history"]["rows"]
    print(f"{args.customers:,} customers, {len(orders):,} orders -> {rows:,} panel rows")
    print(f"glocal ingest:   {ingest:7.1f} s")
    print(f"glocal features: {features:7.1f} s")
    target = "PASS" if evaluate <= 180 and peak <= 3.0 else "FAIL"
    print(
        f"glocal evaluate: {evaluate:7.1f} s, peak RSS {peak:.2f} GiB "
        f"(<= 180 s, <= 3 GiB: {target})"
    )
    print(f"  steps: {metrics['timings_s']}")
    scaled = forest * history / args.forest_sample
    print(
        f"the recipe's default forest on {args.forest_sample:,} rows: {forest:.1f} s; on all "
        f"{history:,} history rows about {scaled:,.0f} s (linear extrapolation, a lower bound)"
    )
    print(f"ratio: the recipe's unsampled forest alone / glocal evaluate: {scaled / evaluate:.1f}x")


if __name__ == "__main__":
    main()
