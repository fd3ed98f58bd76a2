from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from glocal.models.evidence_rows import Candidate, Evidence, evidence_rows
from glocal.models.fold_statistics import FoldTests
from glocal.models.losses import row_loss


def _random_evidence(seed: int, lags: int, objective: str) -> Evidence:
    """Entities x folds x rows, candidates with gaps (NaN), ties with global and exact zeros."""
    rng = np.random.default_rng(seed)
    n_entities, n_folds = int(rng.integers(3, 12)), int(rng.integers(1, 4))
    ids, folds = [], []
    for fold in range(n_folds):  # pooled fold by fold, as collect_evidence writes them
        for entity in range(n_entities):
            rows = int(rng.integers(0, 5))
            ids += [f"e{entity}"] * rows
            folds += [fold * 10] * rows  # fold labels need not be 0..k-1
    n = len(ids)
    y = np.where(rng.random(n) < 0.3, 0.0, rng.gamma(2.0, 3.0, n))
    g = y + rng.normal(scale=2.0, size=n)
    candidates = []
    for name in ("a", "b", "same"):
        prediction = g.copy() if name == "same" else y + rng.normal(scale=1.5, size=n)
        prediction[rng.random(n) < 0.05] = np.nan
        variance = rng.gamma(1.0, 2.0, n)
        candidates.append(Candidate(name, "local", prediction, None, variance))
    return Evidence(np.array(ids), y, g, candidates, np.array(folds), objective, lags)  # type: ignore[arg-type]


def _reference(evidence: Evidence, entities: pd.Index, used: list[int]) -> dict[str, np.ndarray]:
    """Each entity's best candidate and its p-value, from the rows (the pre-sums method)."""
    rows = evidence_rows(evidence, entities)
    keep = np.isin(rows.fold, used)
    codes, fold, y, g = (
        rows.codes[keep],
        rows.fold[keep],
        rows.target[keep],
        rows.global_prediction[keep],
    )
    n_entities, lags, objective = rows.n_entities, evidence.lags, evidence.objective
    counts = np.bincount(codes, minlength=n_entities).astype(float)
    n_eff = counts / (lags + 1.0) + 1.0
    best = {
        "gain": np.full(n_entities, -np.inf),
        "index": np.full(n_entities, -1),
        "p": np.ones(n_entities),
    }
    for index, full in enumerate(rows.predictions):
        prediction = full[keep]
        missing = np.bincount(codes, np.isnan(prediction), n_entities) > 0
        c = np.nan_to_num(prediction)
        d = row_loss(y, g, objective) - row_loss(y, c, objective)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.bincount(codes, d, n_entities) / counts
            centered = d - gain[codes]
            variance = np.bincount(codes, centered**2, n_entities) / counts
            for lag in range(1, lags + 1):
                same = (codes[lag:] == codes[:-lag]) & (fold[lag:] == fold[:-lag])
                product = np.where(same, centered[lag:] * centered[:-lag], 0.0)
                variance += (
                    2
                    * (1 - lag / (lags + 1))
                    * np.bincount(codes[lag:], product, n_entities)
                    / counts
                )
            spread = (c - g) ** 2
            v = rows.variances[index][keep]
            per_row = (
                spread * v / (v + spread / 4 + 1e-300) if objective == "mae" else 4 * spread * v
            )
            floor = np.bincount(codes, per_row, n_entities) / counts
            se = np.sqrt(np.maximum(np.maximum(variance, 0) / counts, floor / n_eff))
            p = np.where(
                se > 0,
                stats.t.sf(gain / se, np.maximum(n_eff - 1, 1)),
                np.where(gain > 0, 0.0, 1.0),
            )
        better = (counts > 0) & ~missing & (gain > best["gain"])
        best["gain"][better], best["index"][better], best["p"][better] = (
            gain[better],
            index,
            p[better],
        )
    return best


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 3), st.sampled_from(["mse", "mae"]))
def test_sums_per_cell_test_every_fold_set_as_the_rows_do(
    seed: int, lags: int, objective: str
) -> None:
    evidence = _random_evidence(seed, lags, objective)
    entities = pd.Index(sorted(set(np.asarray(evidence.entity_ids).tolist())), name="entity_id")
    tests = FoldTests.of(evidence_rows(evidence, entities), objective, lags)  # type: ignore[arg-type]
    labels = tests.folds.tolist()
    fold_sets = [np.ones(len(labels), dtype=bool)] + [
        np.arange(len(labels)) != k for k in range(len(labels))
    ]
    for fold_set, best in zip(fold_sets, tests.best(fold_sets), strict=True):
        expected = _reference(
            evidence, entities, [f for f, used in zip(labels, fold_set, strict=True) if used]
        )
        np.testing.assert_array_equal(best.index, expected["index"])
        np.testing.assert_allclose(best.gain, expected["gain"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(best.p_value, expected["p"], rtol=1e-7, atol=1e-9)


def test_a_candidate_equal_to_global_has_exactly_no_gain_and_no_variance() -> None:
    evidence = _random_evidence(4, 2, "mse")
    entities = pd.Index(sorted(set(np.asarray(evidence.entity_ids).tolist())), name="entity_id")
    same_only = Evidence(
        evidence.entity_ids,
        evidence.target,
        evidence.global_prediction,
        [
            Candidate(
                "same",
                "local",
                np.asarray(evidence.global_prediction, dtype=float),
                None,
                np.ones(len(evidence.target)),
            )
        ],
        evidence.fold,
        "mse",
        2,
    )
    tests = FoldTests.of(evidence_rows(same_only, entities), "mse", 2)
    (best,) = tests.best([np.ones(len(tests.folds), dtype=bool)])
    has_rows = best.counts > 0
    assert (best.gain[has_rows] == 0.0).all() and (best.p_value == 1.0).all()


def test_fold_sets_are_computed_once() -> None:
    evidence = _random_evidence(1, 0, "mse")
    entities = pd.Index(sorted(set(np.asarray(evidence.entity_ids).tolist())), name="entity_id")
    tests = FoldTests.of(evidence_rows(evidence, entities), "mse", 0)
    every = np.ones(len(tests.folds), dtype=bool)
    first = tests.best([every])[0]
    assert tests.best([every, every])[1] is first
    with pytest.raises(ValueError):
        tests.best([np.ones(len(tests.folds) + 1, dtype=bool)])


@pytest.mark.parametrize("workers", [1, 3])
def test_blocks_of_rows_on_threads_give_exactly_one_pass(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glocal.models import fold_statistics

    evidence = _random_evidence(4, 2, "mse")  # 3 folds, 64 rows
    entities = pd.Index(sorted(set(np.asarray(evidence.entity_ids).tolist())), name="entity_id")
    rows = evidence_rows(evidence, entities)
    every = np.ones(len(np.unique(rows.fold)), dtype=bool)
    (whole,) = FoldTests.of(rows, "mse", 2, workers=1).best([every])
    monkeypatch.setattr(fold_statistics, "_BLOCK_ROWS", 7)  # a block is a few cells
    blocked_tests = FoldTests.of(rows, "mse", 2, workers=workers)
    assert len(blocked_tests.blocks) > 3
    (blocked,) = blocked_tests.best([every])
    for name in ("index", "gain", "p_value", "counts"):
        np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name))
    assert blocked.held.keys() == whole.held.keys() == set()  # every fold is in the set
    left_out = np.arange(len(every)) != 1
    (blocked,) = blocked_tests.best([left_out])
    (whole,) = FoldTests.of(rows, "mse", 2, workers=1).best([left_out])
    np.testing.assert_array_equal(blocked.held[1], whole.held[1])
