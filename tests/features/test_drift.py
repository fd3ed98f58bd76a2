from __future__ import annotations

import json

import numpy as np
import pandas as pd

from glocal.features.drift import feature_baseline, population_stability, psi


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    spend = rng.gamma(1.5, 100.0, n) * np.exp(shift)
    spend[rng.random(n) < 0.3] = 0.0  # many ties at zero, as in real spend
    frequency = rng.poisson(2 + shift, n).astype(np.float64)
    frequency[rng.random(n) < 0.05] = np.nan
    country = rng.choice(["UK", "FR", "DE"], n, p=[0.8, 0.1, 0.1])
    return pd.DataFrame(
        {
            "entity_id": [f"c{i}" for i in range(n)],
            "spend": spend,
            "frequency": frequency,
            "country": pd.Categorical(country),
        }
    )


def test_same_distribution_is_stable_and_a_shift_is_caught() -> None:
    rng = np.random.default_rng(1)
    sketch = feature_baseline(_frame(rng, 20_000), ["spend", "frequency", "country"])
    same = population_stability(sketch, _frame(rng, 5_000))
    moved = population_stability(sketch, _frame(rng, 5_000, shift=1.0))
    assert max(same.values()) < 0.02
    assert moved["spend"] > 0.25 and moved["frequency"] > 0.25


def test_missing_values_and_new_levels_count_as_drift() -> None:
    rng = np.random.default_rng(2)
    before = _frame(rng, 10_000)
    sketch = feature_baseline(before, ["frequency", "country"])
    after = before.copy()
    after.loc[: len(after) // 2, "frequency"] = np.nan
    after["country"] = "US"  # a level the baseline never saw: all in "other"
    drift = population_stability(sketch, after)
    assert drift["frequency"] > 0.25
    assert drift["country"] > 1.0


def test_sketch_is_small_json_and_holds_no_entity_id() -> None:
    rng = np.random.default_rng(3)
    frame = _frame(rng, 50_000)
    text = json.dumps(feature_baseline(frame, ["spend", "frequency", "country"]))
    assert len(text) < 3_000
    assert "c123" not in text


def test_psi_of_equal_shares_is_zero_and_grows_with_the_gap() -> None:
    even = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(even, even) == 0.0
    assert (
        0 < psi(even, np.array([0.3, 0.2, 0.25, 0.25])) < psi(even, np.array([0.7, 0.1, 0.1, 0.1]))
    )


def test_columns_the_frame_lacks_are_left_out() -> None:
    rng = np.random.default_rng(4)
    sketch = feature_baseline(_frame(rng, 1_000), ["spend", "frequency"])
    assert set(population_stability(sketch, _frame(rng, 100).drop(columns="spend"))) == {
        "frequency"
    }
