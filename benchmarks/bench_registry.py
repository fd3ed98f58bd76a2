"""Speed of the model registry on SQLite (and optionally PostgreSQL).

1. Record one run with 100,000 per-entity rows (one transaction, executemany over Core
   inserts). Target on SQLite: <= 2 s.
2. Fetch one entity's model card (current production decision + history across runs),
   median over many entities. Target: <= 5 ms.
3. Growth: ``--daily`` incremental runs after those, each retraining ``--changed`` of the
   entities (1%). A run stores only the rows that changed; the rows and bytes each adds
   are set beside the full run's, and reading a run's whole state back is timed at the
   deepest chain. Target: an incremental run adds <= 2% of a full run's rows and bytes.

Usage: .venv/bin/python benchmarks/bench_registry.py [--entities 100000] [--runs 3]
       [--daily 10] [--changed 0.01]
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
from sqlalchemy import text

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


def stored_bytes(registry: Registry, workspace: Workspace) -> int:
    """Bytes the registry's data takes: the SQLite file, or PostgreSQL's tables."""
    if registry.url.startswith("sqlite"):
        with registry._read() as connection:  # fold the write-ahead log into the file
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in workspace.models_dir.glob("registry.db*"))
    with registry._read() as connection:
        query = text(
            "SELECT pg_total_relation_size('entity_models') + pg_total_relation_size('runs')"
        )
        return int(connection.execute(query).scalar() or 0)


def daily_runs(
    registry: Registry,
    workspace: Workspace,
    entities: int,
    first: str,
    created: dt.datetime,
    days: int,
    changed: float,
    full_runs: int,
) -> None:
    """Record ``days`` incremental runs retraining ``changed`` of the entities; report growth."""
    frame = registry.entity_models(first).drop(columns="run_id")
    full_bytes = stored_bytes(registry, workspace) / full_runs  # one full run's share
    parent = first
    rng = np.random.default_rng(7)
    added_rows, added_bytes = [], []
    for day in range(1, days + 1):
        run_id = f"daily-{day}"
        moment = created + dt.timedelta(days=day)
        retrained = rng.random(entities) < changed
        frame = frame.assign(carried_forward=~retrained)
        frame.loc[retrained, "trained_at"] = pd.Timestamp(moment)
        frame.loc[retrained, "val_mse_local"] = rng.gamma(2.0, 90.0, int(retrained.sum()))
        before = stored_bytes(registry, workspace)
        registry.record_run(run_record(run_id, moment, parent), None, frame)
        added_bytes.append(stored_bytes(registry, workspace) - before)
        added_rows.append(registry.run(run_id).summary["entity_rows"]["stored"])
        parent = run_id
    began = time.perf_counter()
    state = registry.entity_models(parent)
    read_seconds = time.perf_counter() - began
    assert len(state) == entities
    row_share = max(added_rows) / entities
    byte_share = max(added_bytes) / full_bytes
    print(
        f"incremental runs ({changed:.0%} of {entities:,} entities retrained, {days} days): "
        f"{min(added_rows):,}-{max(added_rows):,} rows each ({row_share:.2%} of a full run), "
        f"{min(added_bytes) / 1e6:.2f}-{max(added_bytes) / 1e6:.2f} MB each "
        f"({byte_share:.2%} of a full run's {full_bytes / 1e6:.1f} MB)"
    )
    print(
        f"read the whole state of a run {days} deltas deep: {read_seconds:.2f} s "
        f"for {entities:,} entities"
    )
    passed = row_share <= 0.02 and byte_share <= 0.02
    print(f"growth target <= 2% of a full run: {'PASS' if passed else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--url", default=None)
    parser.add_argument("--daily", type=int, default=10, help="incremental runs after those")
    parser.add_argument("--changed", type=float, default=0.01, help="share retrained daily")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.entities, args.runs, args.cards, args.daily = 2_000, 2, 20, 3

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
            if args.daily:
                last = start + dt.timedelta(days=7 * (args.runs - 1))
                daily_runs(
                    registry,
                    workspace,
                    args.entities,
                    parent or "",
                    last,
                    args.daily,
                    args.changed,
                    args.runs,
                )


if __name__ == "__main__":
    main()
