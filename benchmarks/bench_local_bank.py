"""Speed and memory of the vectorized local bank, against the seed recipe's loop.

1. 100,000 entities x 50 rows x 15 features: fit the ridge bank (direct + residual targets
   sharing one decomposition, 5 penalties with per-entity GCV) and run the per-entity
   selection on 10 validation rows per entity. Target: <= 5 s.
2. Peak traced memory of the bank fit beyond its input and its coefficients, per entity
   (tracemalloc). Target: <= 1 KB.
3. 20,000 entities x 40 rows x 15 features: the seed loop (sklearn LinearRegression per
   group + one pickle file each; pickle is used here only because it is the reference being
   measured) against the vectorized unregularized bank. Target: >= 100x per model.

Usage: .venv/bin/python benchmarks/bench_local_bank.py [--seed-entities 20000]
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from glocal.config.models import SelectionSettings
from glocal.models import Candidate, LocalModelBank, select_per_entity
from glocal.models.ridge_solver import fit_grouped_ridge

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def arrays(entities: int, rows: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(entities * rows, features))
    coef = rng.normal(size=(entities, features))
    codes = np.repeat(np.arange(entities, dtype=np.int64), rows)
    y = np.einsum("ij,ij->i", x, coef[codes]) + rng.normal(size=len(x))
    return x, y, codes


def bench_large(entities: int) -> None:
    x, y, codes = arrays(entities, 50, 15)
    g = y + np.random.default_rng(1).normal(size=len(y))  # stand-in global prediction
    start = time.perf_counter()
    fits = fit_grouped_ridge(
        x, np.column_stack([y, y - g]), codes, entities, alphas=ALPHAS, n_jobs=-1, clip=3.0
    )
    bank_seconds = time.perf_counter() - start

    rng = np.random.default_rng(2)
    val_codes = np.repeat(np.arange(entities), 10)
    y_val = rng.normal(size=len(val_codes))
    g_val = y_val + rng.normal(size=len(y_val))
    ids = pd.Index([f"E{i:06d}" for i in range(entities)])
    n_train = pd.Series(50, index=ids)
    candidates = [
        Candidate("direct", "local", y_val + rng.normal(size=len(y_val))),
        Candidate("residual", "local", y_val + 0.9 * rng.normal(size=len(y_val))),
    ]
    start = time.perf_counter()
    decisions = select_per_entity(
        ids[val_codes], y_val, g_val, candidates, n_train, SelectionSettings()
    )
    selection_seconds = time.perf_counter() - start
    total = bank_seconds + selection_seconds
    print(f"[1] {entities:,} entities x 50 rows x 15 features, 5 alphas, 2 targets")
    print(
        f"    bank fit        {bank_seconds:6.2f} s  "
        f"({bank_seconds / entities * 1e6:.1f} us/entity)"
    )
    print(f"    selection       {selection_seconds:6.2f} s  ({len(decisions):,} decisions)")
    print(
        f"    bank+selection  {total:6.2f} s  (target <= 5 s: {'OK' if total <= 5 else 'MISSED'})"
    )
    del fits

    tracemalloc.start()
    (single,) = fit_grouped_ridge(x, y, codes, entities, alphas=ALPHAS, n_jobs=-1, clip=3.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    state = sum(
        a.nbytes
        for a in (
            single.means,
            single.scales,
            single.coef,
            single.intercept,
            single.alpha,
            single.n_rows,
            single.fitted,
            single.target_min,
            single.target_max,
        )
    )
    beyond = (peak - state) / entities
    print(
        f"[2] peak traced memory of one bank fit: {peak / 2**20:.1f} MiB; state "
        f"(coef, means, scales, ...) {state / 2**20:.1f} MiB; beyond state {beyond:.0f} B/entity "
        f"(target <= 1024: {'OK' if beyond <= 1024 else 'MISSED'}); input X not counted "
        f"({x.nbytes / 2**20:.0f} MiB)"
    )


def seed_loop(frame: pd.DataFrame, features: list[str], directory: Path) -> int:
    fitted = 0
    for entity, group in frame.groupby("entity_id"):
        if len(group) < 20:
            continue
        model = LinearRegression().fit(group[features], group["target"])
        with open(directory / f"{entity}.pkl", "wb") as handle:
            pickle.dump(model, handle)
        fitted += 1
    return fitted


def bench_seed(entities: int) -> None:
    x, y, codes = arrays(entities, 40, 15, seed=3)
    features = [f"x{j}" for j in range(15)]
    frame = pd.DataFrame(x, columns=features)
    frame.insert(0, "entity_id", pd.Index([f"E{i:06d}" for i in range(entities)])[codes])
    frame["target"] = y
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        n_loop = seed_loop(frame, features, Path(tmp))
        loop_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ols = LocalModelBank.unregularized(min_train_rows=20).fit(frame, feature_columns=features)
    ols_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ridge = LocalModelBank(alphas=ALPHAS).fit(frame, feature_columns=features)
    ridge_seconds = time.perf_counter() - start
    per_loop = loop_seconds / n_loop * 1e3
    per_ols = ols_seconds / len(ols.entity_ids_) * 1e3
    per_ridge = ridge_seconds / len(ridge.entity_ids_) * 1e3
    print(f"[3] {entities:,} entities x 40 rows x 15 features (from a pandas frame)")
    print(
        f"    seed loop (LinearRegression + pickle file each): {loop_seconds:7.2f} s, "
        f"{per_loop:.3f} ms/model"
    )
    print(
        f"    vectorized OLS bank (same models, min-norm):      {ols_seconds:7.2f} s, "
        f"{per_ols:.4f} ms/model  -> {per_loop / per_ols:,.0f}x faster"
    )
    print(
        f"    vectorized ridge bank (5 alphas, GCV):            {ridge_seconds:7.2f} s, "
        f"{per_ridge:.4f} ms/model  -> {per_loop / per_ridge:,.0f}x faster"
    )
    sample = frame[frame["entity_id"] == "E000007"]
    reference = LinearRegression().fit(sample[features], sample["target"]).predict(sample[features])
    gap = np.abs(ols.predict(sample) - reference).max()
    print(f"    max |OLS bank - LinearRegression| on one entity: {gap:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seed-entities", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.entities, args.seed_entities = 2_000, 300
    bench_large(args.entities)
    if args.seed_entities:
        bench_seed(args.seed_entities)


if __name__ == "__main__":
    main()
