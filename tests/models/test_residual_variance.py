"""The variance floor: moments per chunk of entities, the peers' prior over all of them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from glocal.models.residual_variance import (
    ResidualMoments,
    residual_moments,
    shrink_variances,
    shrunk_residual_variance,
)


def test_moments_of_chunks_shrink_exactly_as_one_pass() -> None:
    rng = np.random.default_rng(4)
    codes = np.repeat(np.arange(300), rng.integers(1, 12, size=300))
    target = rng.gamma(1.0, 5.0, size=len(codes)) * (rng.random(len(codes)) < 0.6)
    prediction = rng.normal(3.0, 1.0, size=len(codes))
    prediction[::17] = np.nan  # rows without a prediction do not count
    whole = shrunk_residual_variance(codes, target, prediction, prior_rows=5.0)
    cut = np.searchsorted(codes, [100, 220])
    parts = [
        residual_moments(codes[rows], target[rows], prediction[rows])
        for rows in (slice(0, cut[0]), slice(cut[0], cut[1]), slice(cut[1], None))
    ]
    chunked = shrink_variances(ResidualMoments.concat(parts), prior_rows=5.0)
    pd.testing.assert_series_equal(chunked, whole)
    assert (whole.dropna() > 0).all()


def test_no_moments_give_no_variance() -> None:
    empty = shrink_variances(ResidualMoments.concat([]), prior_rows=5.0)
    assert empty.empty
