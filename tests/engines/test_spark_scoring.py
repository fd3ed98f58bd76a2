"""Batch scoring on Spark with the saved model broadcast equals the local predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, SelectionSettings
from glocal.core.errors import ModelError
from glocal.data.synthetic import make_synthetic_panel
from glocal.engines import spark_score_job
from glocal.engines.spark_scoring import _safe_relative, model_files, score_spark
from glocal.models import HybridModel
from glocal.models.persistence import save_hybrid
from tests.engines.conftest import said, spark_submit

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def saved(tmp_path_factory: Any) -> tuple[Path, HybridModel, pd.DataFrame]:
    panel, _ = make_synthetic_panel(
        120, 40, 4, heterogeneity=4.0, noise=0.2, seed=5, heterogeneous_fraction=0.5
    )
    codes = panel["entity_id"].astype(str).str.len() % 3  # a categorical feature too
    panel["region"] = pd.Categorical(np.array(["north", "south", "west"])[codes])
    cutoffs = np.sort(panel["cutoff"].unique())
    history = panel.loc[panel["cutoff"] < cutoffs[32]].reset_index(drop=True)
    test = panel.loc[panel["cutoff"] == cutoffs[33]].reset_index(drop=True)
    model = HybridModel(
        GlobalModelSettings(params={"n_estimators": 60}, entity_feature=False),
        selection=SelectionSettings(multiple_testing="none", dependence_lags=0),
        split=SplitSettings(folds=3, validation_days=28),
        horizon_days=7,
    ).fit(history)
    directory = tmp_path_factory.mktemp("scoring") / "model"
    save_hybrid(model, directory)
    return directory, model, test


def test_spark_scores_equal_the_local_predict(
    spark: Any, saved: tuple[Path, HybridModel, pd.DataFrame]
) -> None:
    directory, model, test = saved
    rows = test.assign(entity_id=test["entity_id"].astype(str)).reset_index(drop=True)
    # plain columns for Spark: text ids and categories, float features
    plain = rows[["entity_id", *model.feature_columns_]].astype(
        {c: object for c in ["entity_id", *model.categorical_columns_]}
    )
    scored = score_spark(spark.createDataFrame(plain).repartition(3), directory).toPandas()
    expected = model.predict(rows)
    scored = scored.sort_values("entity_id", kind="stable").reset_index(drop=True)
    expected = expected.assign(entity_id=expected["entity_id"].astype(str))
    expected = expected.sort_values("entity_id", kind="stable").reset_index(drop=True)
    assert (expected["source"] != "global").any()  # local models are served
    assert scored["entity_id"].tolist() == expected["entity_id"].tolist()
    assert scored["source"].tolist() == expected["source"].astype(str).tolist()
    for column in ("prediction", "global_prediction", "local_prediction"):
        np.testing.assert_allclose(scored[column], expected[column], rtol=1e-12, equal_nan=True)


def test_a_directory_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"hybrid\.json"):
        model_files(tmp_path)


@pytest.mark.parametrize("name", ["../x.json", "/etc/passwd", "a/../../b", ""])
def test_a_file_name_outside_the_model_is_refused(name: str) -> None:
    with pytest.raises(ModelError, match="outside"):
        _safe_relative(name)


def test_a_snapshot_without_the_features_is_refused(
    spark: Any, saved: tuple[Path, HybridModel, pd.DataFrame]
) -> None:
    directory, _, test = saved
    frame = spark.createDataFrame(test[["entity_id"]].astype(str).astype(object))
    with pytest.raises(ModelError, match="lacks column"):
        score_spark(frame, directory)


def test_spark_submit_scores_a_snapshot_file_with_a_bundle(
    saved: tuple[Path, HybridModel, pd.DataFrame], tmp_path: Path
) -> None:
    directory, model, test = saved
    snapshot = tmp_path / "features_latest.parquet"
    rows = test.assign(entity_id=test["entity_id"].astype(str))
    rows.to_parquet(snapshot, index=False)  # as glocal writes it: categories, a timestamp
    output = tmp_path / "scores"
    job = spark_score_job.__file__
    done = spark_submit(job, "--snapshot", str(snapshot), "--bundle", str(directory))
    assert done.returncode == 2  # --output is required: argparse's usage error
    done = spark_submit(
        job, "--snapshot", str(snapshot), "--bundle", str(directory), "--output", str(output)
    )
    assert done.returncode == 0, said(done)[-3000:]
    written = pd.read_parquet(output).sort_values("entity_id", kind="stable")
    expected = model.predict(rows).sort_values("entity_id", kind="stable")
    assert written["entity_id"].tolist() == expected["entity_id"].astype(str).tolist()
    np.testing.assert_allclose(written["prediction"], expected["prediction"], rtol=1e-12)
    again = spark_submit(
        job, "--snapshot", str(snapshot), "--bundle", str(directory), "--output", str(output)
    )
    assert again.returncode == 2
    assert "error: cannot write" in said(again)  # an existing output is never overwritten
    empty = tmp_path / "not-a-bundle"
    empty.mkdir()
    bad = spark_submit(
        job, "--snapshot", str(snapshot), "--bundle", str(empty), "--output", str(tmp_path / "x")
    )
    assert bad.returncode == 2
    assert "hybrid.json is missing" in said(bad)
    assert "Traceback" not in said(bad)
