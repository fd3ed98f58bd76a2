"""The prediction service under load: glocal serve against the user's request path, one run.

Real data (Online Retail): `glocal run` twice into a temporary workspace (the second run
retrains the global model, so there are two runs to switch between), then:

* start-up: load and verify the production bundle, score the latest snapshots (in process),
  and a whole `glocal serve` process from spawn to its first 200 on /ready;
* in-process prediction of one row with features (RoutedPredictor.predict_one);
* HTTP with 32 connections against 127.0.0.1: id-only requests, requests with features;
* a soak of id-only requests: failed requests and the server's memory growth;
* hot reload under load: the production alias moves during a load run;
* the user's recipe (seed.md): its predict(features, cust_id) in process, and its FastAPI
  endpoint under the same load, with pickles fitted on the same panel.

Synthetic: a full hybrid model of 1M entities, published and promoted; its start-up,
in-process prediction and id-only HTTP load.

Usage: .venv/bin/python benchmarks/bench_serve.py [--data FILE] [--entities 1035000]
       [--seconds 10] [--soak-seconds 60] [--workers 1] [--no-synthetic] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.features import read_current_panel, read_panel
from glocal.registry import Registry
from glocal.serving.state import ServingState, load_serving_state
from seed_service import SEED_APP, build_seed_models, seed_request_latencies
from serve_load import LoadResult, ServerProcess, free_port, run_load, tree_rss_bytes
from synthetic_service import build_synthetic_workspace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "online_retail.parquet"


def _features(row: pd.Series, columns: list[str]) -> dict[str, Any]:
    values = {}
    for column in columns:
        value = row[column]
        values[column] = (
            None if pd.isna(value) else (value if isinstance(value, str) else float(value))
        )
    return values


def _bodies(state: ServingState, snapshot: pd.DataFrame) -> tuple[list[bytes], list[bytes]]:
    ids = snapshot["entity_id"].astype(str).tolist()
    id_only = [json.dumps({"entity_id": entity}).encode() for entity in ids]
    with_features = [
        json.dumps(
            {"entity_id": entity, "features": _features(row, state.feature_columns)}
        ).encode()
        for entity, (_, row) in zip(ids, snapshot.iterrows(), strict=True)
    ]
    return id_only, with_features


def _predict_one_ms(state: ServingState, snapshot: pd.DataFrame, calls: int) -> np.ndarray:
    rows = snapshot.sample(min(calls, len(snapshot)), random_state=0)
    requests = [
        (str(row["entity_id"]), _features(row, state.feature_columns)) for _, row in rows.iterrows()
    ]
    for entity, features in requests[:50]:
        state.router.predict_one(entity, features)  # warm up
    latencies = []
    for entity, features in requests:
        began = time.perf_counter()
        state.router.predict_one(entity, features)
        latencies.append(time.perf_counter() - began)
    return np.asarray(latencies) * 1e3


def _load_state(workspace: Workspace) -> tuple[ServingState, float]:
    began = time.perf_counter()
    state = load_serving_state(workspace, workspace.settings())
    assert state is not None, "no production run"
    return state, time.perf_counter() - began


def _serve(workspace: Workspace, workers: int, poll: float = 5.0) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "glocal", "serve", "-w", str(workspace.root)]
    command += ["--port", str(port), "--workers", str(workers)]
    env = {"GLOCAL_SERVING__RELOAD_POLL_SECONDS": str(poll)}
    return ServerProcess(command, f"http://127.0.0.1:{port}/ready", env)


def _url(server: ServerProcess, path: str) -> str:
    return server.ready_url.removesuffix("/ready") + path


def _report(label: str, result: LoadResult, target: str = "") -> None:
    print(f"  {label:<34}{result.line()}{'  ' + target if target else ''}")


def _percentiles(label: str, latencies: np.ndarray, target: str) -> None:
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"  {label:<34}p50 {p50:.3f} ms  p99 {p99:.3f} ms  ({len(latencies):,} calls)  {target}")


def _reload_under_load(
    workspace: Workspace, server: ServerProcess, bodies: list[bytes], seconds: float
) -> None:
    with Registry.open(None, workspace) as registry:
        runs = registry.list_runs()["run_id"].tolist()
        serving = registry.alias("production")
    other = next(run for run in runs if run != serving)
    outcome: dict[str, LoadResult] = {}
    loader = threading.Thread(
        target=lambda: outcome.setdefault(
            "load", run_load(_url(server, "/predict"), bodies, seconds)
        )
    )
    loader.start()
    time.sleep(seconds / 4)
    with Registry.open(None, workspace) as registry:
        registry.promote(other)
    moved = time.perf_counter()
    with httpx.Client() as client:
        while client.get(_url(server, "/health")).json()["run_id"] != other:
            time.sleep(0.02)
    switched = time.perf_counter() - moved
    loader.join()
    _report("hot reload under load", outcome["load"], "(target: 0 failed)")
    print(f"  {'':<34}production {serving} -> {other}, served {switched:.2f} s after the move")


def _seed_path(panel: pd.DataFrame, state: ServingState, snapshot: pd.DataFrame, args: Any) -> None:
    numeric = [c for c in state.feature_columns if c not in state.categorical_columns]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        fitted = build_seed_models(panel, numeric, root, args.seed_rows, args.seed_customers)
        print(
            f"  user's recipe: RandomForest on {min(args.seed_rows, len(panel)):,} rows, "
            f"{fitted:,} pickled LinearRegressions ({time.perf_counter() - began:.0f} s to fit)"
        )
        vectors = snapshot[numeric].fillna(0.0).to_numpy().tolist()
        ids = snapshot["entity_id"].astype(str).tolist()
        requests = list(zip(vectors, ids, strict=True))  # without a pickle: the forest
        _percentiles(
            "recipe predict() in process",
            seed_request_latencies(root, requests[:1000]),
            "(measured 17.4 ms)",
        )
        (root / "seed_app.py").write_text(SEED_APP)
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "seed_app:app", "--app-dir", str(root)]
        command += ["--port", str(port), "--workers", str(args.workers), "--log-level", "warning"]
        bodies = [
            json.dumps({"customer_id": entity, "features": vector}).encode()
            for vector, entity in requests
        ]
        probe = ServerProcess(command, f"http://127.0.0.1:{port}/docs", {"SEED_ROOT": str(root)})
        with probe as server:
            result = run_load(f"http://127.0.0.1:{port}/predict", bodies, args.seconds)
            _report("recipe FastAPI, with features", result)
            print(f"  {'':<34}process spawn to ready: {server.startup_seconds:.2f} s")


def _line(label: str, text: str) -> None:
    print(f"  {label:<34}{text}")


def _soak(server: ServerProcess, bodies: list[bytes], seconds: float) -> None:
    """Id-only load for ``seconds``; the server's memory is sampled every second."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(tree_rss_bytes(server.pid))

    sampler = threading.Thread(target=sample)
    before = tree_rss_bytes(server.pid)
    sampler.start()
    soak = run_load(_url(server, "/predict"), bodies, seconds)
    done.set()
    sampler.join()
    after = tree_rss_bytes(server.pid)
    _report(f"soak {seconds:.0f} s, id-only", soak, "(target: 0 failed)")
    peak, mib = max([before, after, *samples]), 2**20
    _line(
        "",
        f"server memory {before / mib:,.0f} MiB before, {after / mib:,.0f} MiB after "
        f"({after / before - 1:+.1%}; target < 5%), peak {peak / mib:,.0f} MiB",
    )


def _http(workspace: Workspace, bodies: tuple[list[bytes], list[bytes]], args: Any) -> None:
    id_only, with_features = bodies
    with _serve(workspace, args.workers) as server:
        started = f"{server.startup_seconds:.2f} s  (spawn to /ready; target <= 2 s)"
        _line("start-up, glocal serve process", started)
        _report(
            "id-only",
            run_load(_url(server, "/predict"), id_only, args.seconds),
            "(target >= 2,000 req/s, p99 <= 20 ms)",
        )
        _report(
            "with features",
            run_load(_url(server, "/predict"), with_features, args.seconds),
            "(target >= 1,000 req/s)",
        )
        _soak(server, id_only, args.soak_seconds)
        _reload_under_load(workspace, server, id_only, args.seconds)


def real_section(args: Any) -> None:
    """Serve a production run of the real data; measure it and the user's recipe."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "retail"
        for extra in ([], ["--retrain-global"]):
            assert main(["run", "--data", str(args.data), "-w", str(root), *extra]) == 0
        workspace = Workspace(root)
        state, load_seconds = _load_state(workspace)
        snapshot = read_panel(read_current_panel(workspace).files.latest)
        print(
            f"real data: run {state.run_id}, {len(state.router.entity_index):,} entities with "
            f"a decision, {len(snapshot):,} in the latest snapshot, {args.workers} worker(s)"
        )
        _line("start-up, in process", f"{load_seconds:.2f} s  (bundle verified, snapshot scored)")
        _percentiles(
            "predict_one with features",
            _predict_one_ms(state, snapshot, 5000),
            "(target p50 <= 0.2 ms)",
        )
        _http(workspace, _bodies(state, snapshot), args)
        panel = read_panel(read_current_panel(workspace).files.panel)
        _seed_path(panel, state, snapshot, args)


def synthetic_section(args: Any) -> None:
    """Serve a production run of a synthetic panel with many entities."""
    with tempfile.TemporaryDirectory() as tmp:
        workspace, facts = build_synthetic_workspace(Path(tmp) / "synthetic", args.entities)
        state, load_seconds = _load_state(workspace)
        snapshot = read_panel(read_current_panel(workspace).files.latest)
        print(
            f"synthetic: {facts['entities']:,} entities ({facts['served_locally']:,} served by a "
            f"local model), fitted on {facts['panel_rows']:,} rows in {facts['fit_seconds']:.0f} s"
        )
        _line("start-up, in process", f"{load_seconds:.2f} s  (target <= 30 s)")
        _percentiles(
            "predict_one with features",
            _predict_one_ms(state, snapshot, 5000),
            "(target p50 <= 1 ms)",
        )
        id_only, _ = _bodies(state, snapshot.sample(min(20_000, len(snapshot)), random_state=0))
        del state
        with _serve(workspace, args.workers) as server:
            _line(
                "start-up, glocal serve process",
                f"{server.startup_seconds:.2f} s  (spawn to /ready)",
            )
            _report("id-only", run_load(_url(server, "/predict"), id_only, args.seconds))
            _line("", f"server memory {tree_rss_bytes(server.pid) / 2**20:,.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--entities", type=int, default=1_035_000, help="about 3%% have no history")
    parser.add_argument("--seconds", type=float, default=10.0, help="each load run")
    parser.add_argument("--soak-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed-rows", type=int, default=20_000, help="recipe's forest rows")
    parser.add_argument("--seed-customers", type=int, default=None, help="default: all")
    parser.add_argument("--no-synthetic", action="store_true", help="real data only")
    parser.add_argument("--quick", action="store_true", help="short runs, 20,000 entities")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.entities, arguments.seconds, arguments.soak_seconds = 20_000, 2.0, 3.0
        arguments.seed_rows, arguments.seed_customers = 2_000, 100
    real_section(arguments)
    if not arguments.no_synthetic:
        synthetic_section(arguments)
