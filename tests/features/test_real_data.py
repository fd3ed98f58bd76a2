"""The default weekly panel of the real UCI Online Retail data, pinned to exact counts.

The integers below were computed once with the default settings and the data layer's
default cleaning; a change in any of them means a feature, cutoff or split definition
(or the cleaning) changed, which must be a deliberate decision.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Settings
from glocal.data import clean_transactions, read_transactions
from glocal.features import BlockRange, build_latest_snapshot, build_panel, split_panel

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def transactions(real_data_path: Path) -> pd.DataFrame:
    settings = Settings()
    raw = read_transactions(real_data_path, settings.columns)
    return clean_transactions(raw, settings.cleaning)[0]


@pytest.fixture(scope="module")
def panel(transactions: pd.DataFrame) -> pd.DataFrame:
    return build_panel(transactions, Settings().features)


def test_default_panel_size(panel: pd.DataFrame):
    assert len(panel) == 137_027
    assert panel["entity_id"].nunique() == 4_307
    assert int(panel["target"].notna().sum()) == 120_147
    assert panel["cutoff"].min() == pd.Timestamp("2010-12-06")
    # the last transaction is on 2011-12-09, so the data ends on 2011-12-10
    assert panel["cutoff"].max() == pd.Timestamp("2011-12-05")
    assert panel.loc[panel["target"].notna(), "cutoff"].max() == pd.Timestamp("2011-11-07")


def test_default_split(panel: pd.DataFrame):
    settings = Settings()
    split = split_panel(panel, settings.split, settings.features.horizon_days)
    assert split.ranges == {
        "train": BlockRange(dt.date(2010, 12, 6), dt.date(2011, 6, 13)),
        "validation": BlockRange(dt.date(2011, 7, 18), dt.date(2011, 9, 5)),
        "test": BlockRange(dt.date(2011, 10, 17), dt.date(2011, 11, 7)),
    }
    described = split.describe().set_index("block")
    assert described["rows"].to_dict() == {"train": 49_359, "validation": 25_615, "test": 15_671}
    assert described["entities"].to_dict() == {"train": 2_818, "validation": 3_338, "test": 4_041}
    train_rows = split.train.groupby("entity_id").size()
    min_rows = settings.local_models.min_train_rows
    assert min_rows == 8
    assert int((train_rows >= min_rows).sum()) == 2_399
    assert int((train_rows >= 20).sum()) == 1_279


def test_latest_snapshot(transactions: pd.DataFrame, panel: pd.DataFrame):
    latest = build_latest_snapshot(transactions, Settings().features)
    assert len(latest) == 4_307
    last = panel[panel["cutoff"] == pd.Timestamp("2011-12-05")].reset_index(drop=True)
    pd.testing.assert_frame_equal(latest, last)
