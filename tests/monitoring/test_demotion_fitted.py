"""Demotions of real fitted local models whose entities then change behaviour.

A hybrid model is fitted on a synthetic panel where half the entities carry a planted
deviation from the global function; its local models learn those deviations. Then a fifth
of the entities served locally lose their deviation (their behaviour changes), and the
monitor's demotion test judges the first periods after the change. Measured (seeds 1-3):
29-43% of the changed entities demoted after 3 periods, 60-81% after 6, 71-86% after 9,
and no unchanged entity demoted. The issue's goal (90% within 3 periods) is not met yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from glocal.config.features import SplitSettings
from glocal.config.monitoring import MonitoringSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.monitoring.demotion import judge_demotions
from glocal.monitoring.live_error import live_errors
from tests.models.conftest import FAST_GLOBAL, SYNTHETIC_HORIZON, synthetic_hybrid


def _demotions_after_a_change(seed: int, periods: list[int]) -> dict[int, tuple[float, float]]:
    panel, truth = make_synthetic_panel(
        300, 90, 4, heterogeneity=2.0, heterogeneous_fraction=0.5, noise=0.5, seed=seed
    )
    change = np.sort(panel["cutoff"].unique())[-10]
    history, after = panel[panel["cutoff"] < change], panel[panel["cutoff"] >= change].copy()
    model = synthetic_hybrid(
        global_model=FAST_GLOBAL.model_copy(update={"entity_feature": False}),
        split=SplitSettings(validation_days=42, folds=3),
    ).fit(history)
    decisions = model.decisions_.set_index("entity_id")
    local = decisions.index[decisions["decision"] != "global"]
    changed = pd.Index(np.random.default_rng(seed).choice(local, len(local) // 5, replace=False))
    codes = pd.Index(truth.entity_ids).get_indexer(after["entity_id"])
    features = after[[f"x{j}" for j in range(4)]].to_numpy()
    deviation = (
        np.einsum("ij,ij->i", features, truth.coef_offsets[codes]) + truth.intercept_offsets[codes]
    )
    moved = after["entity_id"].isin(changed).to_numpy()
    after.loc[moved, "target"] -= deviation[moved]
    scored = model.predict(after)
    keys = {
        "entity_id": after["entity_id"].astype(str).to_numpy(),
        "cutoff": after["cutoff"].astype("datetime64[us]").to_numpy(),
    }
    served = pd.DataFrame(
        {
            **keys,
            "prediction": scored["prediction"].to_numpy(),
            "source": scored["source"].astype(str).to_numpy(),
            "global_prediction": scored["global_prediction"].to_numpy(),
            "run_id": "r",
        }
    )
    actuals = pd.DataFrame({**keys, "target": after["target"].to_numpy()})
    cutoffs = np.sort(served["cutoff"].unique())
    result = {}
    for count in periods:
        first = served["cutoff"] <= cutoffs[count - 1]
        live = live_errors(served[first], actuals, "mse", 365)
        judged = judge_demotions(live.entities, MonitoringSettings(), 7, SYNTHETIC_HORIZON)
        demoted = judged.set_index("entity_id")["demote"]
        unchanged = local.difference(changed)
        result[count] = (float(demoted[changed].mean()), float(demoted[unchanged].mean()))
    return result


def test_changed_entities_are_demoted_more_as_periods_pass_and_unchanged_ones_never() -> None:
    found = _demotions_after_a_change(seed=1, periods=[3, 6, 9])
    assert all(false <= 0.05 for _, false in found.values())
    assert found[3][0] >= 0.25
    assert found[9][0] >= found[3][0] and found[9][0] >= 0.6
