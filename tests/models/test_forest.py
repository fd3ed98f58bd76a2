from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glocal.models import GlobalModel
from glocal.models.forest import (
    COMPILED_COLD_MIN_ROWS,
    COMPILED_MIN_ROWS,
    ZERO_THRESHOLD,
    CompiledForest,
    use_compiled,
)
from tests.models.conftest import FAST_GLOBAL, time_split


def _awkward_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features that exercise every decision path: NaN, exact and tiny zeros, categories."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    x[rng.random(rows) < 0.15, 0] = np.nan
    x[rng.random(rows) < 0.25, 1] = 0.0
    x[rng.random(rows) < 0.05, 1] = ZERO_THRESHOLD * rng.choice([-1.0, -0.5, 0.5, 1.0])
    x[:, 2] = rng.integers(0, 40, rows).astype(float)  # categorical codes
    x[rng.random(rows) < 0.1, 2] = np.nan
    x[:, 3] = np.round(x[:, 3], 1)
    category_effect = np.sin(np.nan_to_num(x[:, 2], nan=-1.0))
    y = (
        np.nan_to_num(x[:, 0]) * 2
        + (x[:, 1] == 0) * 1.5
        + 3 * category_effect
        + x[:, 3] * x[:, 4]
        + rng.normal(0, 0.1, rows)
    )
    return x, y


def _train(x: np.ndarray, y: np.ndarray, **params: Any) -> lgb.Booster:
    data = lgb.Dataset(x, y, categorical_feature=[2], free_raw_data=False)
    base = {"objective": "regression", "verbose": -1, "num_leaves": 15, "seed": 0}
    return lgb.train({**base, **params}, data, num_boost_round=40)


def _scoring_matrix(x: np.ndarray, seed: int) -> np.ndarray:
    """Rows beyond the training range: unseen and negative categories, huge values."""
    rng = np.random.default_rng(seed)
    score = x.copy()
    score[rng.random(len(x)) < 0.05, 2] = 57.0  # a category never seen in training
    score[rng.random(len(x)) < 0.02, 2] = -3.0
    score[rng.random(len(x)) < 0.02, 2] = 0.5
    score[rng.random(len(x)) < 0.02, 0] = 1e300
    score[rng.random(len(x)) < 0.02, 1] = -ZERO_THRESHOLD
    return score


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"zero_as_missing": True},
        {"use_missing": False},
        {"objective": "huber", "learning_rate": 0.3},
        {"min_data_in_leaf": 100_000},  # only single-leaf (constant) trees
        {"max_cat_to_onehot": 64},  # one-vs-rest categorical splits
    ],
    ids=["nan-missing", "zero-missing", "no-missing", "huber", "constant-trees", "one-hot"],
)
def test_compiled_forest_reproduces_lightgbm_bit_for_bit(params: dict[str, Any]) -> None:
    x, y = _awkward_data(4_000, seed=1)
    booster = _train(x, y, **params)
    forest = CompiledForest.from_booster(booster)
    assert forest is not None
    score = _scoring_matrix(x, seed=2)
    expected = booster.predict(score)
    np.testing.assert_array_equal(forest.predict(score), expected)  # the serial kernel
    tiled = np.tile(score, (3, 1))  # more rows than a block: the parallel kernel
    np.testing.assert_array_equal(forest.predict(tiled), np.tile(expected, 3))
    one_by_one = [forest.predict(score[i : i + 1])[0] for i in range(100)]
    np.testing.assert_array_equal(one_by_one, expected[:100])


def test_forest_kinds_it_cannot_reproduce_are_declined() -> None:
    x, y = _awkward_data(1_000, seed=3)
    poisson = _train(x, np.abs(y), objective="poisson")
    linear = _train(np.nan_to_num(x), y, linear_tree=True)
    assert CompiledForest.from_booster(poisson) is None
    assert CompiledForest.from_booster(linear) is None


def test_wrong_matrix_width_is_refused() -> None:
    x, y = _awkward_data(500, seed=4)
    forest = CompiledForest.from_booster(_train(x, y))
    assert forest is not None
    with pytest.raises(ValueError, match="needs 5 columns"):
        forest.predict(x[:, :4])


def test_global_model_engines_give_the_same_numbers(small_panel: pd.DataFrame) -> None:
    train, validation, test = time_split(small_panel)
    model = GlobalModel(FAST_GLOBAL, seed=0).fit(train, validation)
    assert model.compiled_forest() is not None
    expected = model.booster_.predict(model._lightgbm_matrix(test))
    for engine in ("lightgbm", "compiled", "auto"):
        np.testing.assert_array_equal(model.predict(test, engine=engine), expected)


def test_auto_engine_compiles_large_batches_only() -> None:
    assert not use_compiled(COMPILED_MIN_ROWS - 1)
    assert use_compiled(COMPILED_COLD_MIN_ROWS)
    x, y = _awkward_data(500, seed=5)
    forest = CompiledForest.from_booster(_train(x, y))
    assert forest is not None
    forest.predict(x)  # the kernel is warm from here on in this process
    assert use_compiled(COMPILED_MIN_ROWS)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    rows=st.integers(50, 600),
    columns=st.integers(1, 6),
    nan_fraction=st.floats(0.0, 0.5),
    zero_fraction=st.floats(0.0, 0.5),
    categorical=st.booleans(),
    params=st.fixed_dictionaries(
        {
            "num_leaves": st.integers(2, 63),
            "min_data_in_leaf": st.integers(1, 30),
            "zero_as_missing": st.booleans(),
            "use_missing": st.booleans(),
        }
    ),
)
def test_random_forests_match_lightgbm_bit_for_bit(
    seed: int,
    rows: int,
    columns: int,
    nan_fraction: float,
    zero_fraction: float,
    categorical: bool,
    params: dict[str, Any],
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, columns)) * rng.choice([1.0, 1e-3, 1e6], size=columns)
    x[rng.random(x.shape) < zero_fraction] = 0.0
    x[rng.random(x.shape) < nan_fraction] = np.nan
    if categorical:
        x[:, 0] = np.where(np.isnan(x[:, 0]), np.nan, rng.integers(0, 50, rows))
    y = np.nan_to_num(x).sum(axis=1) + rng.normal(size=rows)
    data = lgb.Dataset(x, y, categorical_feature=[0] if categorical else "auto")
    booster = lgb.train({"verbose": -1, "seed": seed, **params}, data, num_boost_round=15)
    forest = CompiledForest.from_booster(booster)
    assert forest is not None
    score = np.vstack([x, rng.normal(size=(rows, columns)) * 10])
    np.testing.assert_array_equal(forest.predict(score), booster.predict(score))
