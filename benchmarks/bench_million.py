"""The local part of the hybrid fit at one million entities, on one machine.

1,000,000 entities x 20 weekly rows x 10 features (half the entities with a planted
deviation from a shared linear function, and a level shift, so that many leave global).
A stand-in global prediction (the shared function plus noise) replaces the LightGBM
stage, so what is timed is glocal's own per-entity work, exactly as ``HybridModel.fit``
runs it after its global stage:

0. the entity ids replaced by integer codes (``coded_entities``), as ``fit`` does;
1. ``collect_evidence``: every candidate kind (direct and residual ridge banks, level,
   scale, intermittent) fitted per validation fold (3 folds of 3 weekly rows, rolling
   origin) and predicted on the fold's rows, with the in-sample variances; chunk by chunk
   of entities (``EVIDENCE_CHUNK_ROWS``), as in ``fit``;
2. ``guard_level``: the population guard's cross-fitted ladder of test levels;
3. ``decide``: the per-entity selection at the chosen level (Benjamini-Hochberg);
4. the final ``CandidateSet.fit`` on the whole history (the bank that is saved).

Printed: seconds per step, peak resident memory (``ru_maxrss``) before and after, and the
saved bank's size (Parquet). The issue's goal for this work: <= 60 s, peak <= 4 GB,
bank <= 1 GB. There is no reference recipe at this size: the seed's loop of one scikit-
learn model per entity is measured against the bank in ``bench_local_bank.py``.

Usage: .venv/bin/python benchmarks/bench_million.py [--entities 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from glocal.config.models import LocalModelSettings, SelectionSettings
from glocal.models.candidates import CandidateSet
from glocal.models.evidence import collect_evidence, decide
from glocal.models.folds import rolling_folds
from glocal.models.frames import coded_entities
from glocal.models.guard import guard_level
from glocal.models.selection import fold_tests

ROWS, FEATURES = 20, 10
SHIFT = 4.0
"""Scale of the planted level shifts: large enough that many entities leave global."""


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def panel(entities: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Return the history (sorted by entity and cutoff), the stand-in global prediction.

    Built in blocks of entities into preallocated arrays, so that the benchmark's own data
    costs no more memory than the frame it hands to glocal.
    """
    rng = np.random.default_rng(seed)
    n = entities * ROWS
    shared = rng.normal(size=FEATURES)
    x = np.empty((n, FEATURES))
    target, global_prediction = np.empty(n), np.empty(n)
    block = 50_000
    for first in range(0, entities, block):
        count = min(block, entities - first)
        rows = slice(first * ROWS, (first + count) * ROWS)
        codes = np.repeat(np.arange(count), ROWS)
        x[rows] = rng.normal(size=(count * ROWS, FEATURES))
        planted = np.where(rng.random(count) < 0.5, 1.0, 0.0)
        offsets = rng.normal(size=(count, FEATURES)) * planted[:, None] / np.sqrt(FEATURES)
        shift = SHIFT * rng.normal(size=count) * planted
        common = x[rows] @ shared
        mean = common + np.einsum("ij,ij->i", x[rows], offsets[codes]) + shift[codes]
        target[rows] = np.maximum(mean + 5.0 + rng.normal(size=len(codes)), 0.0)
        noise = 0.3 * rng.normal(size=len(codes))
        global_prediction[rows] = np.maximum(common + 5.0 + noise, 0.0)
    columns = [f"x{j}" for j in range(FEATURES)]
    frame = pd.DataFrame(x, columns=columns, copy=False)
    del x
    width = len(str(entities))
    ids = pd.array([f"E{i:0{width}d}" for i in range(entities)], dtype="string")
    frame.insert(0, "entity_id", ids.take(np.repeat(np.arange(entities), ROWS)))
    cutoffs = pd.date_range("2011-01-03", periods=ROWS, freq="7D").as_unit("us")
    frame.insert(1, "cutoff", np.tile(cutoffs.to_numpy(), entities))
    frame["target"] = target
    return frame, global_prediction, columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 entities: a smoke run")
    args = parser.parse_args()
    entities = 20_000 if args.quick else args.entities

    began = time.perf_counter()
    history, g, features = panel(entities)
    print(
        f"panel: {len(history):,} rows, {entities:,} entities, {FEATURES} features, "
        f"built in {time.perf_counter() - began:.1f} s; peak RSS {peak_gb():.2f} GB "
        f"(the frame alone: {history.memory_usage(deep=True).sum() / 1e9:.2f} GB)"
    )
    settings, selection = LocalModelSettings(), SelectionSettings()
    folds = rolling_folds(history["cutoff"], n_folds=3, fold_days=21, embargo_days=7)
    cutoffs = history["cutoff"]
    fold_global = [(g[f.train_mask(cutoffs)], g[f.validation_mask(cutoffs)]) for f in folds]
    steps: dict[str, float] = {}
    peaks: dict[str, float] = {}

    start = time.perf_counter()
    history, ids = coded_entities(history)
    steps["entity ids to integer codes"] = time.perf_counter() - start
    peaks["entity ids to integer codes"] = peak_gb()
    start = time.perf_counter()
    evidence, n_train = collect_evidence(
        history, folds, fold_global, settings, selection, features, "mse", lags=0
    )
    steps["collect_evidence (3 folds, every candidate)"] = time.perf_counter() - start
    peaks["collect_evidence (3 folds, every candidate)"] = peak_gb()
    start = time.perf_counter()
    tests = fold_tests(evidence, n_train.index)  # as HybridModel.fit: the guard's and decide's
    guard = guard_level(
        evidence, n_train, selection, min_train_rows=settings.min_train_rows, tests=tests
    )
    steps["guard_level"] = time.perf_counter() - start
    peaks["guard_level"] = peak_gb()
    start = time.perf_counter()
    decisions = decide(evidence, n_train, settings, selection, guard.level, tests)
    del evidence, tests  # as HybridModel.fit does before its final fit
    steps["decide"] = time.perf_counter() - start
    peaks["decide"] = peak_gb()
    start = time.perf_counter()
    final = CandidateSet(settings, features, "mse").fit(history, history["target"].to_numpy(), g)
    final.relabel(ids)
    steps["final CandidateSet.fit"] = time.perf_counter() - start
    peaks["final CandidateSet.fit"] = peak_gb()

    with tempfile.TemporaryDirectory() as tmp:
        size = 0
        for kind, bank in final.banks_.items():
            path = Path(tmp) / f"{kind}.parquet"
            bank.to_frame().to_parquet(path)
            size += path.stat().st_size
        for kind, correction in final.corrections_.items():
            path = Path(tmp) / f"{kind}.parquet"
            correction.to_frame().to_parquet(path)
            size += path.stat().st_size

    total = sum(steps.values())
    for name, seconds in steps.items():
        print(f"{name:45s} {seconds:7.1f} s   peak RSS so far {peaks[name]:.2f} GB")
    left = int((decisions["decision"] != "global").sum())
    print(f"{'total':45s} {total:7.1f} s   (goal <= 60 s)")
    print(f"peak RSS {peak_gb():.2f} GB (goal <= 4 GB); saved bank {size / 1e9:.2f} GB (<= 1 GB)")
    print(f"guard level {guard.level}; {left:,} of {entities:,} entities leave global")


if __name__ == "__main__":
    main()
