"""The ridge banks fitted on Spark equal the local fit, coefficient for coefficient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, LocalModelSettings, SelectionSettings
from glocal.core.errors import ConfigError, ModelError
from glocal.data.synthetic import make_synthetic_panel
from glocal.engines.spark_bank import SparkBankFitter, fit_local_banks_spark
from glocal.models import HybridModel
from glocal.models.local_bank import fit_local_banks

pytestmark = pytest.mark.spark

FEATURES = [f"x{j}" for j in range(4)]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame, _ = make_synthetic_panel(400, 30, 4, heterogeneity=2.0, noise=0.5, seed=5)
    frame = frame.assign(entity_id=frame["entity_id"].astype(str))
    rng = np.random.default_rng(0)
    global_prediction = frame["target"].to_numpy() + rng.normal(0.0, 1.0, len(frame))
    # a few entities with too few rows get no model on either engine
    thin = frame["entity_id"].isin(frame["entity_id"].unique()[:5]) & (frame.index % 3 != 0)
    frame = frame.loc[~thin.to_numpy()].reset_index(drop=True)
    residual = frame["target"].to_numpy() - global_prediction[: len(frame)]
    return frame.assign(residual=residual)


def test_spark_banks_equal_the_local_banks(spark: Any, panel: pd.DataFrame) -> None:
    local = fit_local_banks(
        panel,
        {"target": panel["target"].to_numpy(), "residual": panel["residual"].to_numpy()},
        feature_columns=FEATURES,
        min_train_rows=12,
    )
    columns = ["entity_id", *FEATURES, "target", "residual"]
    frame = spark.createDataFrame(panel[columns])
    remote = fit_local_banks_spark(
        frame, ["target", "residual"], feature_columns=FEATURES, min_train_rows=12, buckets=7
    )
    assert set(remote) == {"target", "residual"}
    for name, bank in local.items():
        expected, got = bank.to_frame(), remote[name].to_frame()
        assert len(expected) < panel["entity_id"].nunique()  # the thin entities have none
        assert got["entity_id"].tolist() == expected["entity_id"].tolist()
        numbers = expected.columns.drop("entity_id")
        np.testing.assert_allclose(
            got[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=1e-8, atol=0
        )
        # and they predict the same
        np.testing.assert_allclose(
            remote[name].predict(panel), bank.predict(panel), rtol=1e-8, equal_nan=True
        )


def test_a_missing_column_is_named(spark: Any, panel: pd.DataFrame) -> None:
    frame = spark.createDataFrame(panel[["entity_id", *FEATURES]])
    with pytest.raises(ConfigError, match="residual"):
        fit_local_banks_spark(frame, ["residual"], feature_columns=FEATURES)


def test_a_failed_bucket_is_a_glocal_message_naming_the_column_and_entity(
    spark: Any, panel: pd.DataFrame
) -> None:
    broken = panel[["entity_id", *FEATURES, "residual"]].copy()
    broken.loc[7, "residual"] = np.nan
    frame = spark.createDataFrame(broken)
    entity = broken.loc[7, "entity_id"]
    with pytest.raises(ModelError, match=f"'residual'.*{entity}.*drop or fill") as caught:
        fit_local_banks_spark(frame, ["residual"], feature_columns=FEATURES, min_train_rows=12)
    assert "Traceback" not in str(caught.value)


def _hybrid_panel() -> pd.DataFrame:
    panel, _ = make_synthetic_panel(
        120,
        40,
        4,
        heterogeneity=4.0,
        noise=0.2,
        seed=5,
        heterogeneous_fraction=0.5,
        few_rows_fraction=0.1,
        missing_rate=0.02,
    )
    return panel.loc[panel["cutoff"] < panel["cutoff"].quantile(0.8)].reset_index(drop=True)


def _hybrid(fitter: Any = None) -> HybridModel:
    return HybridModel(
        GlobalModelSettings(params={"n_estimators": 60}, entity_feature=False),
        LocalModelSettings(candidates=["direct", "residual", "level", "intermittent"]),
        SelectionSettings(multiple_testing="none", dependence_lags=0),
        seed=3,
        split=SplitSettings(folds=3, validation_days=28),
        horizon_days=7,
        **({} if fitter is None else {"bank_fitter": fitter}),
    )


def test_a_hybrid_fitted_on_spark_equals_the_local_fit(spark: Any) -> None:
    # The engine seam: every fold's banks and the final banks come from Spark buckets.
    history = _hybrid_panel()
    local = _hybrid().fit(history)
    remote = _hybrid(SparkBankFitter(spark, buckets=5)).fit(history)
    assert (local.decisions_["decision"] != "global").any()  # the banks matter here
    # labels exactly; statistics to a relative 1e-8 (batched algebra sums in its own order)
    pd.testing.assert_frame_equal(
        remote.decisions_, local.decisions_, check_exact=False, rtol=1e-8, atol=0
    )
    assert remote.guard_level_ == local.guard_level_
    for kind, bank in local.candidates_.banks_.items():
        got, expected = remote.candidates_.banks_[kind].to_frame(), bank.to_frame()
        assert got["entity_id"].tolist() == expected["entity_id"].tolist()
        assert list(got.columns) == list(expected.columns)
        numbers = [c for c in expected.columns if c != "entity_id"]
        np.testing.assert_allclose(
            got[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=1e-8, atol=0
        )
    got, expected = remote.predict(history), local.predict(history)
    assert got["source"].tolist() == expected["source"].tolist()
    for column in ("prediction", "local_prediction"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-8, equal_nan=True)
