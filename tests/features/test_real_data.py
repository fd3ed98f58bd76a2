"""The default weekly panel of the real UCI Online Retail data, pinned to exact counts.

The integers below were computed once with the default settings and the data layer's
default cleaning; a change in any of them means a feature, cutoff or split definition
(or the cleaning) changed, which must be a deliberate decision.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Settings
from glocal.data import clean_transactions, read_transactions
from glocal.features import build_latest_snapshot, build_panel, split_panel

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
    described = split.describe().set_index("block")
    assert described["start"].astype(str).to_dict() == {
        "history": "2010-12-06",
        "fold 1": "2011-08-15",
        "fold 2": "2011-07-18",
        "fold 3": "2011-06-20",
        "test": "2011-10-17",
    }
    assert described["end"].astype(str).to_dict() == {
        "history": "2011-09-05",
        "fold 1": "2011-09-05",
        "fold 2": "2011-08-08",
        "fold 3": "2011-07-11",
        "test": "2011-11-07",
    }
    assert described.loc["test", "rows"] == 15_671
    assert described.loc["test", "entities"] == 4_041
    assert described.loc["history", "rows"] == 86_762
    assert described.loc["history", "entities"] == 3_338
    rows = split.history.groupby("entity_id").size()
    assert settings.local_models.min_train_rows == 8
    assert int((rows >= 8).sum()) == 3_054


def test_latest_snapshot(transactions: pd.DataFrame, panel: pd.DataFrame):
    latest = build_latest_snapshot(transactions, Settings().features)
    assert len(latest) == 4_307
    last = panel[panel["cutoff"] == pd.Timestamp("2011-12-05")].reset_index(drop=True)
    pd.testing.assert_frame_equal(latest, last)
