"""A full `glocal run` with `--engine local` and with `--engine spark`, side by side.

Synthetic demo transactions (`generate_demo_transactions`, default 5,000 customers) go
through a full `glocal run` in two fresh workspaces, each in a new process: once with the
per-entity ridge fits in-process, once on Spark (`spark.master`, default `local[2]` here:
this machine's 2 cores): the panel built by Spark SQL, the banks fitted and the snapshot
scored on Spark. Printed: each run's wall time and its features, train and predict
steps, their ratios, whether the two panels are identical, and whether the two
production models agree (the same decision and candidate for every
entity; every decision statistic and bank coefficient within a relative 1e-8), which is
the engine seam's promise. The numbers are not bit-identical: a bucket's batched linear
algebra may sum in another order than the whole fit's.

Usage: PYSPARK_PYTHON=.venv/bin/python .venv/bin/python benchmarks/bench_engine.py
       [--customers 5000] [--master local[2]]   (--quick: 300 customers)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config import Workspace
from glocal.data.demo import generate_demo_transactions
from glocal.features import read_current_panel, read_panel
from glocal.models import HybridModel
from glocal.models.persistence import load_hybrid
from glocal.registry import Registry

GLOCAL = [sys.executable, "-m", "glocal"]


def timed_run(
    root: Path, data: Path, engine: str, master: str
) -> tuple[float, dict[str, float], Path]:
    """Run `glocal run --engine ENGINE` in a new process; return wall, step seconds, bundle."""
    workspace = Workspace(root)
    workspace.init()
    settings = workspace.settings_path
    settings.write_text(settings.read_text() + f"\nspark:\n  master: {master}\n")
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    start = time.perf_counter()
    done = subprocess.run(
        [*GLOCAL, "run", "-w", str(root), "--data", str(data), "--engine", engine, "--json"],
        capture_output=True,
        text=True,
        env=environment,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"glocal run --engine {engine} failed:\n{done.stdout}\n{done.stderr}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    steps = {step["name"]: float(step["seconds"]) for step in summary["steps"]}
    with Registry.open(None, workspace) as registry:
        bundle = registry.resolve_bundle(str(registry.alias("production")))
    print(
        f"  --engine {engine}: {seconds:.1f} s (features step {steps['features']:.1f} s, "
        f"train step {steps['train']:.1f} s)"
    )
    return seconds, steps, bundle


def panels_equal(local_root: Path, spark_root: Path) -> bool:
    """Whether both runs built exactly the same panel and latest snapshot."""
    local, spark = (
        read_current_panel(Workspace(local_root)),
        read_current_panel(Workspace(spark_root)),
    )
    pairs = [(local.files.panel, spark.files.panel), (local.files.latest, spark.files.latest)]
    return all(read_panel(a).equals(read_panel(b)) for a, b in pairs)


def _relative(got: pd.DataFrame, expected: pd.DataFrame) -> float:
    """Largest relative difference of two frames' numbers (equal infinities and NaN: 0)."""
    a, b = got.to_numpy(float), expected.to_numpy(float)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return 0.0
    scale = np.maximum(np.abs(b[~same]), 1e-300)
    return float(np.max(np.abs(a[~same] - b[~same]) / scale))


def _differs(got: pd.Series, expected: pd.Series) -> npt.NDArray[np.bool_]:
    """Rows whose labels differ (two missing labels are equal)."""
    a, b = got.astype(object).to_numpy(), expected.astype(object).to_numpy()
    both_missing = pd.isna(a) & pd.isna(b)
    return np.asarray(~both_missing & (a != b), dtype=bool)


def compare(local: HybridModel, spark: HybridModel) -> dict[str, Any]:
    """Compare two models' decisions and banks.

    Returns the entities whose label differs per label column of the decisions, and the
    largest relative difference of each decision statistic and of each bank's columns.
    """
    mine, theirs = spark.decisions_, local.decisions_
    labels = [c for c in theirs.columns if not pd.api.types.is_float_dtype(theirs[c])]
    numbers = [c for c in theirs.columns if c not in labels]
    result: dict[str, Any] = {
        "labels": {c: int(_differs(mine[c], theirs[c]).sum()) for c in labels},
        "statistics": {c: _relative(mine[[c]], theirs[[c]]) for c in numbers},
    }
    for kind, bank in local.candidates_.banks_.items():
        expected = bank.to_frame().drop(columns="entity_id")
        got = spark.candidates_.banks_[kind].to_frame().drop(columns="entity_id")
        coef = [c for c in expected.columns if c.startswith("coef:")]
        result[f"{kind} bank coefficients"] = _relative(got[coef], expected[coef])
        result[f"{kind} bank, every number"] = _relative(got, expected)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--quick", action="store_true", help="300 customers: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.customers = 300

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        raw = generate_demo_transactions(n_customers=args.customers, seed=7)
        data = root / "transactions.parquet"
        raw.to_parquet(data, index=False)
        print(f"{args.customers:,} customers, {len(raw):,} transaction lines")
        local_seconds, local_steps, local_bundle = timed_run(
            root / "local", data, "local", args.master
        )
        spark_seconds, spark_steps, spark_bundle = timed_run(
            root / "spark", data, "spark", args.master
        )
        comparison = compare(load_hybrid(local_bundle), load_hybrid(spark_bundle))
        same_panel = panels_equal(root / "local", root / "spark")

    print()
    print(f"| glocal run, {args.customers:,} customers | local | spark ({args.master}) | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| wall time | {local_seconds:.1f} s | {spark_seconds:.1f} s | "
        f"{spark_seconds / local_seconds:.2f}x |"
    )
    for step in ("features", "train", "predict"):
        mine, theirs = local_steps[step], spark_steps[step]
        print(f"| {step} step | {mine:.1f} s | {theirs:.1f} s | {theirs / mine:.2f}x |")
    print(f"the same panel and latest snapshot, exactly (DuckDB against Spark SQL): {same_panel}")
    print(f"entities whose label differs (goal: none): {comparison.pop('labels')}")
    print("largest relative differences (goal: <= 1e-8 for the coefficients):")
    for name, value in [*comparison.pop("statistics").items(), *comparison.items()]:
        print(f"  {name}: {value:.1e}")


if __name__ == "__main__":
    main()
