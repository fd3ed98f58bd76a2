"""Tests of the out-of-time split: layout from the end, embargo gaps, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glocal.config.features import SplitSettings
from glocal.core.errors import ConfigError, DataValidationError
from glocal.features import split_panel


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
    split = split_panel(panel, SplitSettings(validation_days=28, test_days=28), horizon_days=30)
    last = panel.loc[panel["target"].notna(), "cutoff"].max()  # 2011-11-28
    test = split.to_dict()["test"]
    assert (test["start"], test["end"]) == ("2011-11-07", last.date().isoformat())
    # history: cutoffs up to last - 28 - 30 = 2011-10-01
    assert split.history["cutoff"].max() == pd.Timestamp("2011-09-26")
    assert split.embargo_days == 30
    # three folds of 28 days back from the end of the history, each with its training cut
    starts = [fold.to_dict()["start"] for fold in split.folds]
    assert starts == ["2011-08-29", "2011-08-01", "2011-07-04"]
    for fold in split.folds:
        assert (fold.start - fold.train_end).days == 30
    described = split.describe()
    assert described["block"].tolist() == ["history", "fold 1", "fold 2", "fold 3", "test"]
    assert described["rows"].tolist() == [3 * 39, 3 * 4, 3 * 4, 3 * 4, 3 * 4]
    assert split.to_dict()["history"]["end"] == "2011-09-26"
    assert split.to_dict()["horizon_days"] == 30
    assert len(split.to_dict()["folds"]) == 3


def test_offset_days_steps_the_test_block_back():
    panel = weekly_panel(60)
    now = split_panel(panel, SplitSettings(), horizon_days=30)
    earlier = split_panel(panel, SplitSettings(), horizon_days=30, offset_days=28)
    assert earlier.test["cutoff"].max() == now.test["cutoff"].min() - pd.Timedelta(days=7)
    assert earlier.history["cutoff"].max() < now.history["cutoff"].max()


def test_unknown_targets_are_never_in_a_block():
    split = split_panel(weekly_panel(52), SplitSettings(), horizon_days=30)
    for block in (split.history, split.test):
        assert block["target"].notna().all()


@settings(max_examples=60, deadline=None)
@given(
    weeks=st.integers(20, 80),
    every=st.sampled_from([1, 3, 7]),
    horizon=st.integers(1, 40),
    validation_days=st.integers(1, 40),
    folds=st.integers(2, 4),
    test_days=st.integers(1, 40),
    extra_embargo=st.integers(0, 10),
)
def test_no_target_window_reaches_a_later_block(
    weeks: int,
    every: int,
    horizon: int,
    validation_days: int,
    folds: int,
    test_days: int,
    extra_embargo: int,
):
    cutoffs = pd.date_range("2011-01-03", periods=weeks * 7 // every, freq=f"{every}D")
    panel = pd.DataFrame({"entity_id": "a", "cutoff": cutoffs, "target": 1.0})
    config = SplitSettings(
        validation_days=validation_days,
        folds=folds,
        test_days=test_days,
        embargo_days=horizon + extra_embargo,
    )
    try:
        split = split_panel(panel, config, horizon_days=horizon)
    except DataValidationError:
        return
    history_end = split.history["cutoff"].max()
    assert history_end + pd.Timedelta(days=horizon) <= split.test["cutoff"].min()
    cutoffs_of_history = split.history["cutoff"]
    for fold in split.folds:
        train = split.history.loc[fold.train_mask(cutoffs_of_history), "cutoff"]
        validation = split.history.loc[fold.validation_mask(cutoffs_of_history), "cutoff"]
        assert len(train) and len(validation)
        assert train.max() + pd.Timedelta(days=horizon) <= validation.min()
    assert len(split.history) + len(split.test) <= len(panel)


def test_embargo_shorter_than_the_horizon_is_refused():
    with pytest.raises(ConfigError, match=r"split.embargo_days=7 is shorter.*at least 30"):
        split_panel(weekly_panel(52), SplitSettings(embargo_days=7), horizon_days=30)


@pytest.mark.parametrize("horizon", [0, -5])
def test_non_positive_horizon_is_refused(horizon: int):
    with pytest.raises(ConfigError, match=r"features\.horizon_days must be a positive"):
        split_panel(weekly_panel(52), SplitSettings(), horizon_days=horizon)


@pytest.mark.parametrize(
    ("weeks", "message"),
    [
        (21, r"too little history for 3 validation folds.*needs more than 114"),
        (8, r"no history block.*more than 172 days"),
    ],
)
def test_too_short_a_panel_says_how_much_is_needed(weeks: int, message: str):
    # 21 weekly cutoffs span 140 days: the history (to day 82) is too short for 3 x 28 + 30
    with pytest.raises(DataValidationError, match=message):
        split_panel(weekly_panel(weeks, unknown_tail=0), SplitSettings(), horizon_days=30)


def test_a_panel_without_known_targets_is_refused():
    panel = weekly_panel(10, unknown_tail=10)
    with pytest.raises(DataValidationError, match="no row of the panel has a known target"):
        split_panel(panel, SplitSettings(), horizon_days=30)
