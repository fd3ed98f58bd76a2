from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import GlobalModelSettings
from glocal.core.errors import ConfigError, ModelError, NotFittedError
from glocal.models import GlobalModel
from tests.models.conftest import FAST_GLOBAL, time_split


def test_lightgbm_early_stops_and_refits(small_panel: pd.DataFrame) -> None:
    train, validation, test = time_split(small_panel)
    model = GlobalModel(FAST_GLOBAL, seed=0).fit(train, validation)
    assert model.best_iteration_ is not None and model.best_iteration_ <= 300
    assert model.categorical_columns_ == ["country"]
    assert model.booster_.num_trees() == model.best_iteration_
    prediction = model.predict(test)
    assert prediction.shape == (len(test),) and np.isfinite(prediction).all()


def test_save_load_round_trip_text_format(small_panel: pd.DataFrame, tmp_path: Path) -> None:
    train, validation, test = time_split(small_panel)
    model = GlobalModel(FAST_GLOBAL, seed=0).fit(train, validation)
    directory = model.save(tmp_path / "global")
    assert (directory / "global_model.txt").read_text().startswith("tree")
    restored = GlobalModel.load(directory)
    np.testing.assert_allclose(restored.predict(test), model.predict(test))


def test_unseen_category_level_is_missing(small_panel: pd.DataFrame) -> None:
    train, validation, test = time_split(small_panel)
    model = GlobalModel(FAST_GLOBAL, seed=0).fit(train, validation)
    odd = test.assign(country=pd.Categorical(["Atlantis"] * len(test)))
    assert np.isfinite(model.predict(odd)).all()


@pytest.mark.parametrize("name", ["RandomForestRegressor", "Ridge"])
def test_sklearn_estimators_by_name(small_panel: pd.DataFrame, name: str, tmp_path: Path) -> None:
    train, validation, test = time_split(small_panel)
    params = {"n_estimators": 20} if name == "RandomForestRegressor" else {}
    model = GlobalModel(GlobalModelSettings(estimator=name, params=params)).fit(train, validation)
    assert np.isfinite(model.predict(test)).all()
    with pytest.raises(ModelError, match="cannot be saved safely"):
        model.save(tmp_path)


def test_unknown_estimator_lists_valid_names(small_panel: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="RandomForestRegressor") as error:
        GlobalModel(GlobalModelSettings(estimator="RandomForest")).fit(small_panel)
    assert "'RandomForest' is unknown" in str(error.value)


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        (GlobalModelSettings(params={"num_leafs": 8}), "num_leafs"),
        (GlobalModelSettings(estimator="Ridge", params={"n_estimators": 3}), "n_estimators"),
    ],
)
def test_unknown_parameters_are_named(
    small_panel: pd.DataFrame, settings: GlobalModelSettings, name: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        GlobalModel(settings).fit(small_panel)


def test_lightgbm_aliases_are_accepted(small_panel: pd.DataFrame) -> None:
    settings = GlobalModelSettings(params={"min_data_in_leaf": 5, "num_iterations": 20})
    model = GlobalModel(settings).fit(small_panel)
    # the alias took effect: 20 trees (not the default cap of 2000) ...
    assert model.booster_.num_trees() == 20
    # ... and so did min_data_in_leaf: no leaf of any tree holds fewer than 5 rows
    leaves = model.booster_.trees_to_dataframe()
    assert leaves.loc[leaves["left_child"].isna(), "count"].min() >= 5


def test_offset_learner_predicts_the_baseline_plus_its_correction(
    small_panel: pd.DataFrame, tmp_path: Path
) -> None:
    frame = small_panel.assign(baseline_x=small_panel["x0"].fillna(0.0) * 10.0)
    settings = GlobalModelSettings(params={"n_estimators": 1, "learning_rate": 1e-9})
    model = GlobalModel(settings, offset="baseline_x").fit(frame)
    # one nearly silent tree: the prediction is the baseline plus the mean residual
    residual = float((frame["target"] - frame["baseline_x"]).mean())
    np.testing.assert_allclose(model.predict(frame), frame["baseline_x"] + residual, atol=1e-6)
    restored = GlobalModel.load(model.save(tmp_path / "offset"))
    assert restored.offset == "baseline_x" and restored.objective == "mse"
    np.testing.assert_array_equal(restored.predict(frame), model.predict(frame))
    with pytest.raises(ModelError, match="offset column 'baseline_x'"):
        model.predict(frame.assign(baseline_x=np.nan))


def test_mae_objective_uses_lightgbms_l1_loss(small_panel: pd.DataFrame) -> None:
    model = GlobalModel(FAST_GLOBAL, objective="mae").fit(small_panel)
    assert model.booster_.params["objective"] == "regression_l1"
    explicit = GlobalModelSettings(params={"objective": "huber", "n_estimators": 5})
    assert (
        GlobalModel(explicit, objective="mae").fit(small_panel).booster_.params["objective"]
        == "huber"
    )


def test_predict_before_fit_and_missing_columns(small_panel: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        GlobalModel().predict(small_panel)
    model = GlobalModel(FAST_GLOBAL).fit(small_panel)
    with pytest.raises(ModelError, match="'x0'"):
        model.predict(small_panel.drop(columns="x0"))
