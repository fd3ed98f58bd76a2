"""Fixtures of the model-layer tests: synthetic panels split by time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import GlobalModelSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import HybridModel

FAST_GLOBAL = GlobalModelSettings(params={"n_estimators": 300, "learning_rate": 0.1})


def time_split(
    panel: pd.DataFrame, train: float = 0.5, validation: float = 0.25
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split a panel by cutoff into train / validation / test blocks."""
    cutoffs = np.sort(panel["cutoff"].unique())
    first = cutoffs[int(len(cutoffs) * train)]
    second = cutoffs[int(len(cutoffs) * (train + validation))]
    return (
        panel[panel["cutoff"] < first],
        panel[(panel["cutoff"] >= first) & (panel["cutoff"] < second)],
        panel[panel["cutoff"] >= second],
    )


@pytest.fixture(scope="session")
def small_panel() -> pd.DataFrame:
    panel, _ = make_synthetic_panel(
        60, 24, 3, heterogeneity=1.0, noise=0.3, seed=3, few_rows_fraction=0.1, missing_rate=0.02
    )
    return panel


@pytest.fixture(scope="session")
def fitted_hybrid(small_panel: pd.DataFrame) -> tuple[HybridModel, pd.DataFrame]:
    train, validation, test = time_split(small_panel)
    model = HybridModel(global_model=FAST_GLOBAL, seed=0).fit(train, validation)
    return model, test
