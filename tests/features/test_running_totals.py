"""Running values per entity (`running_by_entity`) against pandas' grouped cumsum and ffill."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.features.running_totals import running_by_entity


def _per_day(seed: int, rows: int = 2_000) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    entity = np.sort(rng.integers(0, 150, rows))
    last = rng.integers(0, 400, rows).astype(np.float64)
    last[rng.random(rows) < 0.4] = np.nan
    country = rng.choice(np.array(["FR", "UK", None], dtype=object), rows)
    columns = {"net": rng.integers(-(10**9), 10**9, rows), "last": last, "country": country}
    return entity, columns


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_running_values_equal_pandas_grouped_cumsum_and_ffill(seed: int) -> None:
    entity, columns = _per_day(seed)
    out = running_by_entity(entity, columns, summed=["net"], carried=["last", "country"])
    grouped = pd.DataFrame(columns).groupby(entity)
    assert np.array_equal(out["net"], grouped["net"].cumsum().to_numpy())
    expected_last = grouped["last"].ffill().to_numpy()
    assert np.array_equal(out["last"], expected_last, equal_nan=True)
    expected_country = grouped["country"].ffill().to_numpy(dtype=object)
    missing = pd.isna(expected_country)
    assert all(value is None for value in out["country"][missing])
    assert list(out["country"][~missing]) == list(expected_country[~missing])


def test_sums_stay_exact_when_the_total_over_every_entity_wraps_around() -> None:
    big = np.iinfo(np.int64).max // 2
    entity = np.array([0, 0, 1, 1, 2])
    net = np.array([big, big, big, 1, 5], dtype=np.int64)
    out = running_by_entity(entity, {"net": net}, summed=["net"])
    assert out["net"].tolist() == [big, 2 * big, big, big + 1, 5]


def test_a_complete_carried_column_keeps_its_dtype() -> None:
    out = running_by_entity(
        np.array([0, 0, 1]), {"day": np.array([3, 5, 4])}, summed=[], carried=["day"]
    )
    assert out["day"].dtype == np.int64
    assert out["day"].tolist() == [3, 5, 4]


def test_no_rows_give_empty_columns() -> None:
    empty = np.zeros(0, dtype=np.int64)
    out = running_by_entity(empty, {"net": empty, "day": empty}, summed=["net"], carried=["day"])
    assert len(out["net"]) == 0
    assert len(out["day"]) == 0
