from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import LocalModelSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models.candidates import CandidateSet
from glocal.models.frames import coded_entities
from glocal.models.local_bank import LocalModelBank, fit_local_banks


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame, _ = make_synthetic_panel(
        60, 20, 4, heterogeneity=1.0, noise=0.2, seed=11, few_rows_fraction=0.2, missing_rate=0.05
    )
    return coded_entities(frame)[0]


def _other_fitter(*args: Any, **kwargs: Any) -> dict[str, LocalModelBank]:
    """An engine's fitter: the same banks, through a function that is not the local one."""
    return fit_local_banks(*args, **kwargs)


@pytest.mark.parametrize("fitter", [fit_local_banks, _other_fitter])
def test_the_fitted_rows_are_predicted_as_predict_does(panel: pd.DataFrame, fitter: Any) -> None:
    settings = LocalModelSettings(min_train_rows=12)
    features = ["x0", "x1", "x2", "x3"]
    y = panel["target"].to_numpy()
    g = 0.8 * y + 0.5
    candidates = CandidateSet(settings, features, "mse", fitter).fit(
        panel, y, g, keep_in_sample=True
    )
    # the local fitter keeps what it computed; another engine's banks are predicted
    assert (candidates.in_sample_ is not None) == (fitter is fit_local_banks)
    rows = panel["entity_id"].to_numpy() % 3 != 0
    got = candidates.predict_fitted_rows(panel.loc[rows], g[rows], rows)
    expected = candidates.predict(panel.loc[rows], g[rows])
    assert list(got) == list(expected) == list(settings.candidates)
    for kind, prediction in expected.items():
        np.testing.assert_allclose(got[kind], prediction, rtol=1e-10, atol=1e-10)
    assert np.isnan(expected["direct"]).any()  # some entities have no ridge model


def test_a_set_keeps_no_rows_unless_asked(panel: pd.DataFrame) -> None:
    settings = LocalModelSettings(min_train_rows=12)
    y = panel["target"].to_numpy()
    candidates = CandidateSet(settings, ["x0", "x1"], "mse").fit(panel, y, y)
    assert candidates.in_sample_ is None
    rebuilt = CandidateSet.from_fitted(
        settings, ["x0", "x1"], candidates.banks_, candidates.corrections_
    )
    assert rebuilt.in_sample_ is None
