from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from glocal.models.ridge_solver import (
    _solve_eigen,
    _solve_tridiagonal,
    fit_grouped_ridge,
    predict_grouped_ridge,
)


def _data(groups: int = 20, rows: int = 15, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(groups * rows, features)) * rng.uniform(0.5, 10, size=features)
    y = x @ rng.normal(size=features) + rng.normal(size=len(x))
    codes = np.repeat(np.arange(groups), rows).astype(np.int64)
    order = rng.permutation(len(x))  # the solver must not need sorted rows
    return x[order], y[order], codes[order]


def test_matches_sklearn_ridge_without_standardization() -> None:
    x, y, codes = _data()
    (arrays,) = fit_grouped_ridge(x, y, codes, 20, alphas=[0.3], standardize=False)
    prediction = predict_grouped_ridge(x, codes, arrays)
    for group in (0, 7, 19):
        mine = codes == group
        reference = Ridge(alpha=0.3 * mine.sum()).fit(x[mine], y[mine]).predict(x[mine])
        np.testing.assert_allclose(prediction[mine], reference, atol=1e-9)


@pytest.mark.parametrize("rows", [3, 15])
def test_unregularized_mode_is_linear_regression(rows: int) -> None:
    x, y, codes = _data(rows=rows, features=6)
    (arrays,) = fit_grouped_ridge(x, y, codes, 20, alphas=[0.0], standardize=False)
    prediction = predict_grouped_ridge(x, codes, arrays)
    for group in (0, 11):
        mine = codes == group
        reference = LinearRegression().fit(x[mine], y[mine]).predict(x[mine])
        np.testing.assert_allclose(prediction[mine], reference, atol=1e-8)


def test_shared_decomposition_serves_several_targets() -> None:
    x, y, codes = _data()
    both = fit_grouped_ridge(x, np.column_stack([y, 2 * y]), codes, 20, alphas=[1.0])
    single = fit_grouped_ridge(x, y, codes, 20, alphas=[1.0])[0]
    np.testing.assert_allclose(both[0].coef, single.coef)
    np.testing.assert_allclose(both[1].coef, 2 * single.coef)


def test_gcv_prefers_small_penalty_on_clean_signal_and_large_on_noise() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 3))
    codes = np.repeat(np.arange(40), 50).astype(np.int64)
    clean = fit_grouped_ridge(x, x @ [3.0, -2.0, 1.0], codes, 40, alphas=[1e-3, 10.0])[0]
    noise = fit_grouped_ridge(x, rng.normal(size=2000), codes, 40, alphas=[1e-3, 10.0])[0]
    assert np.all(clean.alpha == 1e-3)
    assert np.mean(noise.alpha == 10.0) > 0.7


def test_constant_and_missing_features_and_thin_groups() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 5))
    x[:, 2] = 7.0  # constant
    x[rng.random(x.shape) < 0.1] = np.nan
    codes = np.repeat(np.arange(20), 3).astype(np.int64)  # 3 rows, 5 features
    (arrays,) = fit_grouped_ridge(x, rng.normal(size=60), codes, 20, alphas=[1.0])
    np.testing.assert_allclose(arrays.coef[:, 2], 0.0, atol=1e-12)
    prediction = predict_grouped_ridge(x, codes, arrays)
    assert np.isfinite(prediction).all()


def test_a_feature_constant_within_a_group_gets_exactly_zero() -> None:
    # not 1e-25 of the eigensolver's rounding: another engine, summing in another order,
    # must find the same coefficient
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 6))
    codes = np.repeat(np.arange(20), 20).astype(np.int64)
    x[codes % 3 == 0, 4] = 0.0  # a count that never moved for these entities
    x[codes % 3 == 1, 1] = 2.5
    y = x @ rng.normal(size=6) + rng.normal(size=400)
    for alphas in ([1.0], [0.1, 1.0, 10.0]):
        (arrays,) = fit_grouped_ridge(x, y, codes, 20, alphas=alphas, clip=3.0)
        groups = np.arange(20)
        assert (arrays.coef[groups % 3 == 0, 4] == 0.0).all()
        assert (arrays.coef[groups % 3 == 1, 1] == 0.0).all()
        assert (arrays.coef[groups % 3 == 2] != 0.0).all()


def test_min_rows_and_unseen_groups_predict_nan() -> None:
    x, y, codes = _data()
    keep = ~((codes == 3) & (np.cumsum(codes == 3) > 2))
    (arrays,) = fit_grouped_ridge(x[keep], y[keep], codes[keep], 21, min_rows=5)
    assert not arrays.fitted[3] and not arrays.fitted[20]
    prediction = predict_grouped_ridge(x[:5], np.array([3, 20, -1, 0, 1]), arrays)
    assert np.isnan(prediction[:3]).all() and np.isfinite(prediction[3:]).all()


def test_clipping_bounds_extrapolation() -> None:
    x = np.zeros((30, 1))
    x[5, 0] = 1.0  # a single spike of a sparse feature
    y = np.where(x[:, 0] > 0, 10.0, 0.0)
    codes = np.zeros(30, dtype=np.int64)
    (arrays,) = fit_grouped_ridge(x, y, codes, 1, alphas=[0.01], clip=3.0)
    prediction = predict_grouped_ridge(np.array([[1000.0]]), np.array([0]), arrays)
    assert prediction[0] <= 10.0


def test_chunking_and_threads_do_not_change_results() -> None:
    x, y, codes = _data(groups=50)
    one = fit_grouped_ridge(x, y, codes, 50, alphas=[0.1, 1.0], chunk_elements=1 << 20)[0]
    many = fit_grouped_ridge(x, y, codes, 50, alphas=[0.1, 1.0], chunk_elements=64, n_jobs=2)[0]
    np.testing.assert_allclose(one.coef, many.coef, atol=1e-10)


@pytest.mark.parametrize("features", [1, 2, 3, 10])
def test_the_tridiagonal_solver_agrees_with_the_eigendecomposition(features: int) -> None:
    # every penalty > 0 takes the Householder path; the eigen path is the reference
    rng = np.random.default_rng(6)
    # from 3 rows: with 2, one direction fits exactly and every penalty ties on GCV
    counts = rng.integers(3, 30, size=300)
    codes = np.repeat(np.arange(300), counts).astype(np.int64)
    x = rng.normal(size=(len(codes), features)) * rng.uniform(0.1, 50, size=features)
    x[codes % 5 == 0, 0] = 3.0  # constant for some groups
    y = np.column_stack(
        [x[:, 0] * 0.2 + rng.normal(size=len(codes)), rng.exponential(size=len(codes))]
    )
    alphas = [1e-3, 0.1, 1.0, 10.0, 1000.0]
    gram, moments, yy, n_rows = _normal_equations(x, y, codes, 300)
    fast = _solve_tridiagonal(gram, moments, yy, n_rows, alphas)
    reference = _solve_eigen(gram, moments, yy, n_rows, alphas)
    for (coef, alpha), (coef_ref, alpha_ref) in zip(fast, reference, strict=True):
        np.testing.assert_array_equal(alpha, alpha_ref)
        np.testing.assert_allclose(coef, coef_ref, rtol=1e-9, atol=1e-9 * np.abs(coef_ref).max())


def _normal_equations(x, y, codes, groups):
    gram = np.zeros((groups, x.shape[1], x.shape[1]))
    moments = np.zeros((groups, x.shape[1], y.shape[1]))
    yy = np.zeros((groups, y.shape[1]))
    n_rows = np.bincount(codes, minlength=groups).astype(np.float64)
    for group in range(groups):
        xs, ys = x[codes == group], y[codes == group]
        xs, ys = xs - xs.mean(axis=0), ys - ys.mean(axis=0)
        gram[group], moments[group], yy[group] = xs.T @ xs, xs.T @ ys, (ys * ys).sum(axis=0)
    return gram, moments, yy, n_rows


def test_each_gcv_choice_is_sklearn_ridge_at_that_penalty() -> None:
    x, y, codes = _data(rows=25, features=5)
    y = np.where(codes % 2 == 0, y, np.random.default_rng(8).normal(size=len(y)) * 20)
    (arrays,) = fit_grouped_ridge(x, y, codes, 20, alphas=[0.01, 1.0, 100.0], standardize=False)
    assert len(np.unique(arrays.alpha)) > 1  # the groups did not all choose alike
    prediction = predict_grouped_ridge(x, codes, arrays)
    for group in range(20):
        mine = codes == group
        penalty = arrays.alpha[group] * mine.sum()
        reference = Ridge(alpha=penalty).fit(x[mine], y[mine]).predict(x[mine])
        np.testing.assert_allclose(prediction[mine], reference, rtol=1e-9, atol=1e-9)


def test_a_zero_penalty_among_several_uses_the_eigendecomposition() -> None:
    # T + 0 I may be singular: a constant feature and more features than rows
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6))
    x[:, 3] = 1.0
    codes = np.repeat(np.arange(10), 4).astype(np.int64)
    (arrays,) = fit_grouped_ridge(x, rng.normal(size=40), codes, 10, alphas=[0.0, 1.0])
    assert np.isfinite(arrays.coef).all() and (arrays.coef[:, 3] == 0.0).all()
    assert np.isfinite(predict_grouped_ridge(x, codes, arrays)).all()


def test_threads_predict_exactly_as_one() -> None:
    x, y, codes = _data(groups=200, rows=400)
    (arrays,) = fit_grouped_ridge(x, y, codes, 200, alphas=[0.1, 1.0], clip=3.0)
    serial = predict_grouped_ridge(x, codes, arrays)
    threaded = predict_grouped_ridge(x, codes, arrays, n_jobs=2)
    np.testing.assert_array_equal(serial, threaded)


def test_a_group_fits_alike_in_a_chunk_with_or_without_padding() -> None:
    # equal row counts and no NaN take the unmasked path; one longer group pads the chunk
    x, y, codes = _data(groups=30, rows=12, features=5)
    alone = fit_grouped_ridge(x, y, codes, 30, alphas=[0.1, 10.0], clip=3.0)[0]
    longer = np.r_[codes, np.full(20, 30)]
    rng = np.random.default_rng(9)
    padded = fit_grouped_ridge(
        np.r_[x, rng.normal(size=(20, 5))],
        np.r_[y, rng.normal(size=20)],
        longer,
        31,
        alphas=[0.1, 10.0],
        clip=3.0,
        chunk_elements=1 << 20,
    )[0]
    for field in ("means", "scales", "alpha"):
        np.testing.assert_array_equal(getattr(padded, field)[:30], getattr(alone, field))
    # the padded rows' zeros change BLAS's order of summation in the Gram matrix, no more
    np.testing.assert_allclose(padded.coef[:30], alone.coef, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(padded.intercept[:30], alone.intercept, rtol=1e-12)


@pytest.mark.parametrize(
    ("alphas", "standardize", "clip"),
    [
        ([0.1, 1.0, 10.0], True, 3.0),  # the default: GCV over penalties, clipping
        ([1.0], True, None),
        ([0.01, 1.0], False, None),
        ([0.0], False, None),  # minimum-norm least squares
    ],
)
def test_the_fit_predicts_its_own_rows_as_predict_does(
    alphas: list[float], standardize: bool, clip: float | None
) -> None:
    x, y, codes = _data(groups=60, features=5, seed=3)
    rng = np.random.default_rng(4)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values take the masked path
    keep = (codes != 7) | (np.arange(len(codes)) % 3 == 0)  # group 7: too few rows
    x, y, codes = x[keep], np.column_stack([y, -2.0 * y])[keep], codes[keep]
    in_sample = np.full(y.shape, np.nan)
    states = fit_grouped_ridge(
        x,
        y,
        codes,
        61,  # group 60 has no rows
        alphas=alphas,
        standardize=standardize,
        clip=clip,
        min_rows=8,
        chunk_elements=400,  # several chunks
        n_jobs=2,
        in_sample_out=in_sample,
    )
    for k, state in enumerate(states):
        expected = predict_grouped_ridge(x, codes, state)
        assert np.isnan(expected[codes == 7]).all()
        np.testing.assert_array_equal(np.isnan(in_sample[:, k]), np.isnan(expected))
        np.testing.assert_allclose(in_sample[:, k], expected, rtol=1e-10, atol=1e-10)


def test_an_in_sample_array_of_the_wrong_shape_is_refused() -> None:
    x, y, codes = _data()
    with pytest.raises(ValueError, match="in_sample_out has shape"):
        fit_grouped_ridge(x, y, codes, 20, in_sample_out=np.empty((len(y), 2)))
