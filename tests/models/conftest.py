"""Fixtures of the model-layer tests: synthetic panels split by time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, SelectionSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import HybridModel

FAST_GLOBAL = GlobalModelSettings(params={"n_estimators": 300, "learning_rate": 0.1})
SYNTHETIC_SPLIT = SplitSettings(validation_days=42, folds=3)
"""Folds for weekly synthetic panels: 3 folds of 6 weeks, a one-week embargo."""
SYNTHETIC_HORIZON = 7
"""Synthetic targets are independent draws: a one-cutoff horizon, no overlap, no lags."""


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


def history_test(panel: pd.DataFrame, history: float = 0.75) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a panel by cutoff into the history a model is fitted on and a later test block."""
    cutoffs = np.sort(panel["cutoff"].unique())
    first_test = cutoffs[int(len(cutoffs) * history)]
    return panel[panel["cutoff"] < first_test], panel[panel["cutoff"] >= first_test]


def synthetic_hybrid(**settings: Any) -> HybridModel:
    """A hybrid model laid out for the weekly synthetic panels (fast global learner)."""
    arguments: dict[str, Any] = {
        "global_model": FAST_GLOBAL,
        "seed": 0,
        "split": SYNTHETIC_SPLIT,
        "horizon_days": SYNTHETIC_HORIZON,
    }
    arguments.update(settings)
    return HybridModel(**arguments)


@pytest.fixture(scope="session")
def small_panel() -> pd.DataFrame:
    panel, _ = make_synthetic_panel(
        60, 40, 3, heterogeneity=1.0, noise=0.3, seed=3, few_rows_fraction=0.1, missing_rate=0.02
    )
    return panel


@pytest.fixture(scope="session")
def fitted_hybrid(small_panel: pd.DataFrame) -> tuple[HybridModel, pd.DataFrame]:
    history, test = history_test(small_panel)
    model = synthetic_hybrid().fit(history)
    return model, test


@pytest.fixture(scope="session")
def mixed_hybrid() -> tuple[HybridModel, pd.DataFrame]:
    """A model where some entities go local or blend, so every candidate kind is served."""
    panel, _ = make_synthetic_panel(
        150,
        40,
        4,
        heterogeneity=4.0,
        noise=0.2,
        seed=5,
        heterogeneous_fraction=0.5,
        few_rows_fraction=0.1,
        missing_rate=0.02,
    )
    history, test = history_test(panel, 0.8)
    model = synthetic_hybrid(
        global_model=GlobalModelSettings(params={"n_estimators": 80}, entity_feature=False),
        selection=SelectionSettings(multiple_testing="none", dependence_lags=0),
    ).fit(history)
    assert (model.decisions_["decision"] != "global").any()
    return model, test
