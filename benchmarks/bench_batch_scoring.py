"""Throughput of batch scoring with the full hybrid model.

A HybridModel (LightGBM global model, optionally with the entity id as a feature; every
local candidate kind; per-entity selection) is fitted on a synthetic panel, saved and loaded
again as a bundle would be, and then scores a batch of entity rows: the global LightGBM
prediction, every chosen local candidate, and the per-row choice. Target: >= 300,000 rows
per second. The tree traversal dominates, so the rate depends on the tree count; it is
timed both with glocal's compiled kernel (what the hybrid uses for large batches) and
with LightGBM's own predict, side by side.

Usage: .venv/bin/python benchmarks/bench_batch_scoring.py [--entities 10000]
       [--rows 1000000] [--features 10] [--trees 100] [--entity-feature] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, SelectionSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import HybridModel
from glocal.models.persistence import load_hybrid, save_hybrid


def fit(
    entities: int, features: int, trees: int, entity_feature: bool
) -> tuple[HybridModel, pd.DataFrame]:
    panel, _ = make_synthetic_panel(
        entities,
        24,
        features,
        heterogeneity=1.0,
        noise=0.5,
        seed=0,
        heterogeneous_fraction=0.3,
        few_rows_fraction=0.1,
        missing_rate=0.01,
    )
    cutoffs = np.sort(panel["cutoff"].unique())
    history = panel[panel["cutoff"] < cutoffs[18]]
    settings = GlobalModelSettings(
        params={"n_estimators": trees, "learning_rate": 0.1}, entity_feature=entity_feature
    )
    # a lenient test, so that many entities are served by local candidates
    selection = SelectionSettings(multiple_testing="none", significance=0.5, dependence_lags=0)
    model = HybridModel(
        global_model=settings,
        selection=selection,
        seed=0,
        split=SplitSettings(validation_days=14),
        horizon_days=7,
    ).fit(history)
    return model, panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--entity-feature", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.entities, args.rows, args.trees, args.repeat = 400, 20_000, 20, 1

    began = time.perf_counter()
    fitted, panel = fit(args.entities, args.features, args.trees, args.entity_feature)
    print(
        f"fit: {len(panel):,} panel rows, {args.entities:,} entities in "
        f"{time.perf_counter() - began:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = load_hybrid(save_hybrid(fitted, Path(tmp) / "model"))
    sources = model.decisions_["decision"].value_counts().to_dict()
    learner = next(iter(model.global_stage_.models_.values()))
    print(
        f"global stage: {model.global_stage_.members_}, first learner "
        f"{learner.best_iteration_} trees, entity feature {model.global_uses_entity_}; "
        f"decisions {sources}"
    )

    rng = np.random.default_rng(1)
    batch = panel.iloc[rng.integers(0, len(panel), args.rows)].reset_index(drop=True)
    batch = batch.drop(columns=["target"])
    timings, global_timings, lightgbm_timings = [], [], []
    for _ in range(args.repeat):
        began = time.perf_counter()
        out = model.predict(batch)
        timings.append(time.perf_counter() - began)
        began = time.perf_counter()
        learner.predict(batch, engine="compiled")
        global_timings.append(time.perf_counter() - began)
        began = time.perf_counter()
        learner.predict(batch, engine="lightgbm")
        lightgbm_timings.append(time.perf_counter() - began)
    assert len(out) == args.rows and np.isfinite(out["prediction"]).all()
    best, best_global = min(timings), min(global_timings)
    rate = args.rows / best
    print(f"rows by source: {out['source'].value_counts().to_dict()}")
    print(f"one global learner, compiled trees: {args.rows / best_global:,.0f} rows/s")
    print(
        f"one global learner, LightGBM predict (all cores): "
        f"{args.rows / min(lightgbm_timings):,.0f} rows/s"
    )
    print(
        f"glocal's own part (candidates + choice): "
        f"{args.rows / max(best - best_global, 1e-9):,.0f} rows/s"
    )
    print(
        f"full hybrid predict: {args.rows:,} rows in {best:.3f} s = {rate:,.0f} rows/s "
        f"(best of {args.repeat}); target >= 300,000: {'PASS' if rate >= 300_000 else 'FAIL'}"
        + (" (--quick: sizes too small to judge)" if args.quick else "")
    )


if __name__ == "__main__":
    main()
