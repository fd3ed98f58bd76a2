"""Speed of the model registry on SQLite (and optionally PostgreSQL).

1. Record one run with 100,000 per-entity rows (one transaction, executemany over Core
   inserts). Target on SQLite: <= 2 s.
2. Fetch one entity's model card (current production decision + history across runs),
   median over many entities. Target: <= 5 ms.

Usage: .venv/bin/python benchmarks/bench_registry.py [--entities 100000] [--runs 3]
       [--url postgresql+psycopg://...]   (default: SQLite in a temporary workspace)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from glocal.config import Workspace
from glocal.registry import GlobalVersion, Registry, RunRecord


def entity_frame(entities: int, trained_at: dt.datetime, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    decision = rng.choice(["global", "local", "blend"], size=entities, p=[0.8, 0.1, 0.1])
    return pd.DataFrame(
        {
            "entity_id": [f"C{i:07d}" for i in range(entities)],
            "decision": decision,
            "candidate": rng.choice(["residual", "level+blend", "direct"], size=entities),
            "weight": np.where(decision == "global", 0.0, rng.uniform(0.5, 1.0, entities)),
            "reason": np.where(decision == "global", "NOT_SIGNIFICANT", "LOCAL_BETTER"),
            "n_train": rng.integers(8, 60, entities),
            "n_val": rng.integers(4, 12, entities),
            "val_mse_global": rng.gamma(2.0, 100.0, entities),
            "val_mse_local": rng.gamma(2.0, 90.0, entities),
            "trained_at": pd.Timestamp(trained_at),
            "global_version_id": "gm-bench",
            "carried_forward": rng.random(entities) < 0.3,
        }
    )


def run_record(run_id: str, created_at: dt.datetime, parent: str | None) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        created_at=created_at,
        data_version="bench",
        config_hash="0" * 64,
        code_version="bench",
        bundle_path=f"models/bundles/{run_id}",
        metrics={"mse": 1.0},
        global_version_id="gm-bench",
        parent_run_id=parent,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--url", default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.entities, args.runs, args.cards = 2_000, 2, 20

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        with Registry.open(args.url, workspace) as registry:
            start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
            parent = None
            write_seconds = []
            for index in range(args.runs):
                run_id = f"bench-{index}"
                created = start + dt.timedelta(days=7 * index)
                frame = entity_frame(args.entities, created, seed=index)
                version = GlobalVersion("gm-bench", run_id, created, "bench", 100, True)
                began = time.perf_counter()
                registry.record_run(run_record(run_id, created, parent), version, frame)
                write_seconds.append(time.perf_counter() - began)
                # the records only: these runs have no bundle to verify
                registry.promote(run_id, verify=False)
                parent = run_id
            print(f"registry: {registry.url}")
            for index, seconds in enumerate(write_seconds):
                print(
                    f"record_run #{index + 1}: {args.entities:,} entity rows in {seconds:.3f} s "
                    f"({args.entities / seconds:,.0f} rows/s)"
                )
            print(f"write target <= 2 s: {'PASS' if max(write_seconds) <= 2.0 else 'FAIL'}")

            rng = np.random.default_rng(0)
            ids = [f"C{i:07d}" for i in rng.integers(0, args.entities, args.cards)]
            registry.model_card(ids[0])  # warm the statement cache
            timings = []
            for entity in ids:
                began = time.perf_counter()
                card = registry.model_card(entity)
                timings.append(time.perf_counter() - began)
            assert len(card["history"]) == args.runs
            median_ms = 1000 * statistics.median(timings)
            p95_ms = 1000 * float(np.quantile(timings, 0.95))
            print(
                f"model_card: median {median_ms:.2f} ms, p95 {p95_ms:.2f} ms over "
                f"{args.cards} entities with {args.runs} runs of history each"
            )
            print(f"model card target <= 5 ms: {'PASS' if median_ms <= 5.0 else 'FAIL'}")


if __name__ == "__main__":
    main()
