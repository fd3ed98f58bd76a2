from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import SelectionSettings
from glocal.models import DECISION_COLUMNS, Candidate, Reason, select_per_entity
from glocal.models.selection import _Rejection


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
    assert _Rejection(p, method).at(0.05).sum() == expected


def _reference_rejections(p_values: np.ndarray, level: float, method: str) -> np.ndarray:
    """The textbook procedures, one level at a time."""
    m = len(p_values)
    if method == "none":
        return p_values <= level
    if method == "bonferroni":
        return p_values <= level / m
    ranked = np.sort(p_values)
    below = np.flatnonzero(ranked <= level * np.arange(1, m + 1) / m)
    return p_values <= ranked[below[-1]] if len(below) else np.zeros(m, dtype=bool)


@pytest.mark.parametrize("method", ["fdr", "bonferroni", "none"])
def test_one_sort_serves_every_level_of_the_guards_ladder(method: str) -> None:
    rng = np.random.default_rng(3)
    # ties, exact zeros and ones, as the adjusted p-values of a real run have
    p_values = np.round(np.concatenate([rng.uniform(size=400), rng.beta(0.2, 5, 100)]), 3)
    p_values[:5] = 0.0
    p_values[5:10] = 1.0
    rejection = _Rejection(p_values, method)
    for level in [0.1 / 2.0**step for step in range(8)] + [0.0]:
        rejected = rejection.at(level)
        assert np.array_equal(rejected, _Rejection(p_values, method).at(level))  # sorted anew
        if level > 0:
            assert np.array_equal(rejected, _reference_rejections(p_values, level, method))
        else:
            assert not rejected.any()
