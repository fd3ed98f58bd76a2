from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import SelectionSettings
from glocal.models import DECISION_COLUMNS, Candidate, Reason, select_per_entity
from glocal.models.selection import (
    _cell_moments,
    _Cells,
    _pooled_variance,
    _reject,
    _Rows,
)


def _case(rows: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    entities = np.repeat(["good", "blend", "same", "bad", "thinval", "thintrain"], rows)
    y = rng.normal(size=len(entities))
    truth = y - rng.normal(scale=0.05, size=len(y))
    g = y + rng.normal(scale=1.0, size=len(y))  # the global model is noisy everywhere
    local = np.where(entities == "good", truth, g)
    local = np.where(entities == "same", g + rng.normal(scale=0.01, size=len(y)), local)
    local = np.where(entities == "bad", g + 3.0, local)
    weight = np.full(len(y), 0.5)
    blended = np.where(entities == "blend", truth, g + 5.0)
    keep = ~((entities == "thinval") & (np.arange(len(y)) % rows >= 2))
    n_train = pd.Series(
        [30, 30, 30, 30, 30, 2], index=["good", "blend", "same", "bad", "thinval", "thintrain"]
    )
    candidates = [
        Candidate("residual", "local", local[keep]),
        Candidate("residual+blend", "blend", blended[keep], weight[keep]),
    ]
    return entities[keep], y[keep], g[keep], candidates, n_train


def test_every_reason_code() -> None:
    entities, y, g, candidates, n_train = _case()
    settings = SelectionSettings(min_validation_rows=4, multiple_testing="none")
    decisions = select_per_entity(entities, y, g, candidates, n_train, settings, min_train_rows=8)
    assert tuple(decisions.columns) == DECISION_COLUMNS
    by = decisions.set_index("entity_id")
    assert by.loc["good", "reason"] == Reason.LOCAL_BETTER and by.loc["good", "decision"] == "local"
    assert by.loc["good", "weight"] == 1.0
    assert by.loc["blend", "reason"] == Reason.BLEND_BETTER
    assert by.loc["blend", "weight"] == pytest.approx(0.5)
    assert by.loc["same", "reason"] in (Reason.NOT_SIGNIFICANT, Reason.LOCAL_WORSE)
    assert by.loc["bad", "reason"] == Reason.LOCAL_WORSE
    assert by.loc["thinval", "reason"] == Reason.TOO_FEW_VALIDATION_ROWS
    assert by.loc["thintrain", "reason"] == Reason.TOO_FEW_ROWS
    assert (by.loc[["same", "bad", "thinval", "thintrain"], "decision"] == "global").all()
    assert by.loc["good", "val_mse_local"] < by.loc["good", "val_mse_global"]


def test_entities_without_validation_rows_stay_global() -> None:
    entities, y, g, candidates, n_train = _case()
    n_train = pd.concat([n_train, pd.Series([40], index=["novalidation"])])
    decisions = select_per_entity(entities, y, g, candidates, n_train, min_train_rows=8)
    row = decisions.set_index("entity_id").loc["novalidation"]
    assert row["decision"] == "global" and row["n_val"] == 0
    assert row["reason"] == Reason.TOO_FEW_VALIDATION_ROWS


def test_null_hypothesis_rarely_rejected() -> None:
    # candidate and global equally good: under FDR control almost nobody leaves global
    rng = np.random.default_rng(1)
    entities = np.repeat(np.arange(2000).astype(str), 8)
    y = rng.normal(size=len(entities))
    g = y + rng.normal(size=len(y))
    local = y + rng.normal(size=len(y))
    n_train = pd.Series(30, index=np.arange(2000).astype(str))
    decisions = select_per_entity(entities, y, g, [Candidate("c", "local", local)], n_train)
    assert (decisions["decision"] == "global").mean() > 0.99


def test_dependence_lags_make_the_test_more_conservative() -> None:
    rng = np.random.default_rng(2)
    entities = np.repeat(np.arange(300).astype(str), 12)
    shock = np.repeat(rng.normal(size=len(entities) // 4), 4)  # overlapping targets
    y = rng.normal(size=len(entities))
    g = y + 0.5 + shock
    local = y + shock * 0.9
    n_train = pd.Series(30, index=np.arange(300).astype(str))
    none = SelectionSettings(multiple_testing="none", dependence_lags=0)
    hac = SelectionSettings(multiple_testing="none", dependence_lags=3)
    candidates = [Candidate("c", "local", local)]
    p_iid = select_per_entity(entities, y, g, candidates, n_train, none)["p_value"]
    p_hac = select_per_entity(entities, y, g, candidates, n_train, hac)["p_value"]
    assert np.median(p_hac) > np.median(p_iid)


@pytest.mark.parametrize(
    ("method", "expected"),
    [("none", 4), ("bonferroni", 1), ("fdr", 3)],
)
def test_multiple_testing_methods(method: str, expected: int) -> None:
    p = np.array([0.001, 0.015, 0.02, 0.04, 0.5, 0.9])
    assert _reject(p, 0.05, method).sum() == expected


def _direct_variance(codes, fold, values, keep, lags, n):  # type: ignore[no-untyped-def]
    """Each entity's mean and Newey-West variance from its kept rows, one entity at a time."""
    mean, variance = np.full(n, np.nan), np.full(n, np.nan)
    for entity in range(n):
        mine = np.flatnonzero((codes == entity) & keep)
        if not len(mine):
            continue
        d = values[mine]
        mean[entity] = d.mean()
        e = d - d.mean()
        total = (e * e).sum()
        for lag in range(1, lags + 1):
            for i in range(lag, len(mine)):  # pairs: `lag` rows apart, in one fold
                rows_apart = mine[i] - mine[i - lag] == lag
                if rows_apart and fold[mine[i]] == fold[mine[i - lag]]:
                    total += 2.0 * (1.0 - lag / (lags + 1.0)) * e[i] * e[i - lag]
        variance[entity] = max(total / len(mine), 0.0)
    return mean, variance


@pytest.mark.parametrize("lags", [0, 2])
def test_pooled_cells_give_each_fold_sets_mean_and_variance(lags: int) -> None:
    # the guard's held-out statistics come from per (entity, fold) sums; checked against
    # a direct computation on the rows of the other folds
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 9, size=(60, 3)) * (rng.random((60, 3)) < 0.85)
    codes = np.concatenate([np.repeat(np.arange(60), counts[:, f]) for f in range(3)])
    fold = np.concatenate([np.full(counts[:, f].sum(), f) for f in range(3)])
    values = rng.normal(size=len(codes)) * 3.0 + 5.0
    rows = _Rows(codes, fold, values, values, [], [], [], 60)
    cells = _Cells(rows)
    same = [
        (codes[lag:] == codes[:-lag]) & (fold[lag:] == fold[:-lag]) for lag in range(1, lags + 1)
    ]
    pairs = [cells.sums(s, slice(lag, None)) for lag, s in enumerate(same, start=1)]
    sums, squares, lagged = _cell_moments(cells, values, same, pairs)
    for held_out in (None, 0, 1, 2):
        mean, variance = _pooled_variance(cells, cells.use(held_out), sums, squares, lagged, lags)
        keep = np.ones(len(codes), dtype=bool) if held_out is None else fold != held_out
        expected_mean, expected_variance = _direct_variance(codes, fold, values, keep, lags, 60)
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-12)
        np.testing.assert_allclose(variance, expected_variance, rtol=1e-10, atol=1e-12)
