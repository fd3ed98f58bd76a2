"""An incremental `glocal run` (1% of the customers changed) against the full run before it.

1. Synthetic demo transactions (`generate_demo_transactions`, default 20,000 customers,
   400 days) go through a full `glocal run` into a fresh workspace (a new process, as a
   scheduler would start it; wall time includes the interpreter's start).
2. One new order is appended for 1% of the customers, dated on the file's last day, and
   `glocal run` runs again in a new process: an incremental run that retrains only those
   customers.

Printed for both runs: wall time, the registry rows the run stored
(`summary["entity_rows"]["stored"]`) and the disk bytes its bundle added (files whose
inode no earlier bundle holds: shared files are hard links), with each incremental figure
as a share of the full run's. The issue's goals: time <= 10%, rows and bytes <= 2%.
The reference is the full run itself, which is what every run cost before bundles and
registry rows were shared.

Usage: .venv/bin/python benchmarks/bench_incremental.py [--customers 20000] [--changed 0.01]
(--quick: 300 customers, a smoke run)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from glocal.config import Workspace
from glocal.data.demo import generate_demo_transactions
from glocal.registry import Registry

GLOCAL = [sys.executable, "-m", "glocal"]


def with_new_orders(raw: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """Return ``raw`` plus one order dated on its last day for ``share`` of the customers."""
    rng = np.random.default_rng(seed)
    known = raw["CustomerID"].dropna().unique()
    chosen = rng.choice(known, size=max(1, round(share * len(known))), replace=False)
    template = raw[raw["CustomerID"].notna() & (raw["Quantity"] > 0)].iloc[[0]]
    orders = template.loc[template.index.repeat(len(chosen))].reset_index(drop=True)
    orders["CustomerID"] = pd.array(chosen, dtype=raw["CustomerID"].dtype)
    orders["InvoiceNo"] = pd.array([f"{900000 + i}" for i in range(len(chosen))], dtype="string")
    orders["InvoiceDate"] = raw["InvoiceDate"].max()
    return pd.concat([raw, orders], ignore_index=True), len(chosen)


def new_bytes(bundle: Path, earlier: set[int]) -> int:
    """Bytes of ``bundle``'s files whose inode no earlier bundle has."""
    return sum(
        p.stat().st_size for p in bundle.rglob("*") if p.is_file() and _inode(p) not in earlier
    )


def _inode(path: Path) -> int:
    return path.stat().st_ino


def timed_run(workspace: Workspace, data: Path) -> tuple[float, str, int]:
    """Run `glocal run` in a new process; return its wall time, run id and stored rows."""
    start = time.perf_counter()
    done = subprocess.run(
        [*GLOCAL, "run", "-w", str(workspace.root), "--data", str(data)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"glocal run failed:\n{done.stdout}\n{done.stderr}")
    with Registry.open(None, workspace) as registry:
        run_id = str(registry.alias())
        run = registry.run(run_id)
    stored = run.summary.get("entity_rows", {}).get("stored")
    mode = "incremental" if run.summary.get("entity_rows", {}).get("base_run_id") else "full"
    print(f"  {mode} run {run_id}: {seconds:.1f} s")
    return seconds, run_id, int(stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share with new orders")
    parser.add_argument("--quick", action="store_true", help="300 customers: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.customers = 300

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        raw = generate_demo_transactions(n_customers=args.customers, seed=7)
        print(
            f"{args.customers:,} customers, {len(raw):,} transaction lines "
            f"({time.perf_counter() - start:.1f} s to generate)"
        )
        day1, day2 = root / "day1.parquet", root / "day2.parquet"
        raw.to_parquet(day1, index=False)
        extended, changed = with_new_orders(raw, args.changed)
        extended.to_parquet(day2, index=False)
        workspace = Workspace(root / "ws")
        workspace.init()

        full_seconds, full_id, full_rows = timed_run(workspace, day1)
        bundles = workspace.models_dir / "bundles"
        full_bytes = new_bytes(bundles / full_id, set())
        earlier = {_inode(p) for p in (bundles / full_id).rglob("*") if p.is_file()}
        print(f"new orders for {changed:,} customers ({args.changed:.1%})")
        inc_seconds, inc_id, inc_rows = timed_run(workspace, day2)
        inc_bytes = new_bytes(bundles / inc_id, earlier)
        copied = new_bytes(bundles / inc_id, set())

    print()
    print(f"| | full run | incremental run ({args.changed:.0%} changed) | share | goal |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| wall time | {full_seconds:.1f} s | {inc_seconds:.1f} s | "
        f"{inc_seconds / full_seconds:.1%} | <= 10% |"
    )
    print(
        f"| registry rows stored | {full_rows:,} | {inc_rows:,} | "
        f"{inc_rows / full_rows:.2%} | <= 2% |"
    )
    print(
        f"| bundle bytes added | {full_bytes / 1e6:.2f} MB | {inc_bytes / 1e6:.3f} MB | "
        f"{inc_bytes / full_bytes:.2%} | <= 2% |"
    )
    print(f"(the incremental bundle's files total {copied / 1e6:.2f} MB; the rest are links)")


if __name__ == "__main__":
    main()
