from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.data.synthetic import make_synthetic_panel


def test_contract_columns_and_dtypes() -> None:
    panel, truth = make_synthetic_panel(30, 10, 4, heterogeneity=1.0, noise=0.5, seed=0)
    assert list(panel.columns[:3]) == ["entity_id", "cutoff", "target"]
    assert panel["cutoff"].dtype.kind == "M"
    assert panel["target"].dtype == np.float64
    assert isinstance(panel["country"].dtype, pd.CategoricalDtype)
    assert all(panel[f"x{j}"].dtype == np.float64 for j in range(4))
    assert len(truth.mean) == len(panel)
    assert panel.groupby("entity_id").size().max() == 10


def test_noise_floor_is_known() -> None:
    panel, truth = make_synthetic_panel(400, 50, 3, heterogeneity=0.5, noise=0.7, seed=1)
    floor = np.mean((panel["target"].to_numpy() - truth.mean) ** 2)
    assert floor == pytest.approx(0.49, rel=0.05)


def test_homogeneous_entities_have_no_deviation() -> None:
    _, truth = make_synthetic_panel(20, 5, 3, heterogeneity=0.0, seed=2)
    assert not truth.heterogeneous.any()
    assert np.all(truth.coef_offsets == 0) and np.all(truth.intercept_offsets == 0)


def test_mixed_plants_heterogeneity_in_a_subset() -> None:
    _, truth = make_synthetic_panel(
        1000, 5, 3, heterogeneity=2.0, heterogeneous_fraction=0.3, seed=3
    )
    assert 0.25 < truth.heterogeneous.mean() < 0.35


def test_per_entity_heterogeneity_array_and_thin_entities() -> None:
    scale = np.r_[np.zeros(10), np.ones(10)]
    panel, truth = make_synthetic_panel(20, 40, 2, heterogeneity=scale, few_rows_fraction=0.5)
    assert np.array_equal(truth.heterogeneous, scale > 0)
    counts = panel.groupby("entity_id").size()
    assert counts.min() <= 10 and counts.max() == 40


def test_missing_values_only_in_features() -> None:
    panel, _ = make_synthetic_panel(50, 20, 3, missing_rate=0.1, seed=4)
    assert panel[["x0", "x1", "x2"]].isna().mean().mean() == pytest.approx(0.1, abs=0.02)
    assert not panel["target"].isna().any()


def test_same_seed_same_panel() -> None:
    first, _ = make_synthetic_panel(10, 5, 2, seed=9)
    second, _ = make_synthetic_panel(10, 5, 2, seed=9)
    pd.testing.assert_frame_equal(first, second)


def test_negative_heterogeneity_rejected() -> None:
    with pytest.raises(ValueError, match="heterogeneity"):
        make_synthetic_panel(5, 5, 2, heterogeneity=-1.0)
