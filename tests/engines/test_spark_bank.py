"""The ridge banks fitted on Spark equal the local fit, coefficient for coefficient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from glocal.core.errors import ConfigError, ModelError
from glocal.data.synthetic import make_synthetic_panel
from glocal.engines.spark_bank import fit_local_banks_spark
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
