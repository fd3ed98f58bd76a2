"""Tests of the out-of-time split: layout from the end, embargo gaps, clear errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glocal.config.features import SplitSettings
from glocal.core.errors import ConfigError, DataValidationError
from glocal.features import BlockRange, split_panel


def weekly_panel(weeks: int, entities: int = 3, unknown_tail: int = 4) -> pd.DataFrame:
    cutoffs = pd.date_range("2011-01-03", periods=weeks, freq="7D")
    rows = [
        {
            "entity_id": f"e{e}",
            "cutoff": c,
            "target": float(i) if i < weeks - unknown_tail else np.nan,
        }
        for e in range(entities)
        for i, c in enumerate(cutoffs)
    ]
    return pd.DataFrame(rows).astype({"cutoff": "datetime64[us]"})


def test_blocks_are_laid_out_from_the_last_known_target():
    panel = weekly_panel(52)
    split = split_panel(panel, SplitSettings(validation_days=56, test_days=28), horizon_days=30)
    last = panel.loc[panel["target"].notna(), "cutoff"].max()  # 2011-11-28
    assert split.ranges["test"] == BlockRange(dt.date(2011, 11, 7), last.date())
    # validation: (last - 28 - 30 - 56, last - 28 - 30] = (2011-08-06, 2011-09-30]
    assert split.ranges["validation"] == BlockRange(dt.date(2011, 8, 8), dt.date(2011, 9, 26))
    # train: cutoffs up to 2011-08-06 - 30 days = 2011-07-07
    assert split.ranges["train"] == BlockRange(dt.date(2011, 1, 3), dt.date(2011, 7, 4))
    assert split.embargo_days == 30
    described = split.describe()
    assert described["rows"].tolist() == [3 * 27, 3 * 8, 3 * 4]
    assert described["entities"].tolist() == [3, 3, 3]
    assert split.to_dict()["validation"] == {
        "start": "2011-08-08",
        "end": "2011-09-26",
        "rows": 24,
        "entities": 3,
    }
    assert split.to_dict()["horizon_days"] == 30


def test_unknown_targets_are_never_in_a_block():
    split = split_panel(weekly_panel(52), SplitSettings(), horizon_days=30)
    for name in ("train", "validation", "test"):
        assert split.block(name)["target"].notna().all()


@settings(max_examples=60, deadline=None)
@given(
    weeks=st.integers(20, 80),
    every=st.sampled_from([1, 3, 7]),
    horizon=st.integers(1, 40),
    validation_days=st.integers(1, 60),
    test_days=st.integers(1, 40),
    extra_embargo=st.integers(0, 10),
)
def test_no_target_window_reaches_a_later_block(
    weeks: int, every: int, horizon: int, validation_days: int, test_days: int, extra_embargo: int
):
    cutoffs = pd.date_range("2011-01-03", periods=weeks * 7 // every, freq=f"{every}D")
    panel = pd.DataFrame({"entity_id": "a", "cutoff": cutoffs, "target": 1.0})
    config = SplitSettings(
        validation_days=validation_days, test_days=test_days, embargo_days=horizon + extra_embargo
    )
    try:
        split = split_panel(panel, config, horizon_days=horizon)
    except DataValidationError:
        return
    train_end = split.train["cutoff"].max()
    validation_start, validation_end = split.validation["cutoff"].agg(["min", "max"])
    test_start = split.test["cutoff"].min()
    assert train_end + pd.Timedelta(days=horizon) <= validation_start
    assert validation_end + pd.Timedelta(days=horizon) <= test_start
    assert len(split.train) + len(split.validation) + len(split.test) <= len(panel)


def test_embargo_shorter_than_the_horizon_is_refused():
    with pytest.raises(ConfigError, match=r"split.embargo_days=7 is shorter.*at least 30"):
        split_panel(weekly_panel(52), SplitSettings(embargo_days=7), horizon_days=30)


@pytest.mark.parametrize("horizon", [0, -5])
def test_non_positive_horizon_is_refused(horizon: int):
    with pytest.raises(ConfigError, match=r"features\.horizon_days must be a positive"):
        split_panel(weekly_panel(52), SplitSettings(), horizon_days=horizon)


@pytest.mark.parametrize(
    ("weeks", "block", "days"), [(21, "train", 144), (20, "train", 144), (8, "validation", 58)]
)
def test_too_short_a_panel_says_how_much_is_needed(weeks: int, block: str, days: int):
    # 21 weekly cutoffs span 140 days: 4 short of test 28 + validation 56 + 2 x 30
    with pytest.raises(DataValidationError, match=rf"no {block} block.*at least {days} days"):
        split_panel(weekly_panel(weeks, unknown_tail=0), SplitSettings(), horizon_days=30)


def test_a_panel_without_known_targets_is_refused():
    panel = weekly_panel(10, unknown_tail=10)
    with pytest.raises(DataValidationError, match="no row of the panel has a known target"):
        split_panel(panel, SplitSettings(), horizon_days=30)
