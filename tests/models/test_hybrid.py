from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import GlobalModelSettings, LocalModelSettings, SelectionSettings
from glocal.core.errors import ConfigError, ModelError, NotFittedError
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import DECISION_COLUMNS, PREDICTION_COLUMNS, GlobalModel, HybridModel
from tests.models.conftest import FAST_GLOBAL, time_split


def test_predict_contract(fitted_hybrid: tuple[HybridModel, pd.DataFrame]) -> None:
    model, test = fitted_hybrid
    out = model.predict(test)
    assert tuple(out.columns) == PREDICTION_COLUMNS
    assert out.index.equals(test.index)
    assert set(out["source"]) <= {"global", "local", "blend"}
    assert np.isfinite(out["prediction"]).all()
    global_rows = out["source"] == "global"
    np.testing.assert_array_equal(
        out.loc[global_rows, "prediction"], out.loc[global_rows, "global_prediction"]
    )
    np.testing.assert_allclose(out["global_prediction"], model.global_model_.predict(test))
    assert model.local_bank_.predict(test).shape == (len(test),)
    assert model.feature_columns_ == ["x0", "x1", "x2", "country"]
    assert model.categorical_columns_ == ["country"]


def test_decisions_one_row_per_training_entity(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], small_panel: pd.DataFrame
) -> None:
    model, _ = fitted_hybrid
    train, _, _ = time_split(small_panel)
    decisions = model.decisions_
    assert tuple(decisions.columns) == DECISION_COLUMNS
    assert sorted(decisions["entity_id"]) == sorted(train["entity_id"].unique())
    assert set(decisions["decision"]) <= {"global", "local", "blend"}


def test_unseen_entities_use_the_global_model(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame],
) -> None:
    model, test = fitted_hybrid
    out = model.predict(test.assign(entity_id="never-seen"))
    assert (out["source"] == "global").all() and out["local_prediction"].isna().all()


def test_predict_before_fit() -> None:
    with pytest.raises(NotFittedError):
        HybridModel().predict(pd.DataFrame({"entity_id": ["a"]}))


def test_init_only_stores_parameters() -> None:
    model = HybridModel(global_model=FAST_GLOBAL, seed=7)
    assert model.global_model is FAST_GLOBAL and model.seed == 7
    assert not hasattr(model, "decisions_")


def test_bad_inputs(small_panel: pd.DataFrame) -> None:
    train, validation, _ = time_split(small_panel)
    fast = HybridModel(global_model=FAST_GLOBAL)
    with pytest.raises(ModelError, match="validation frame is empty"):
        fast.fit(train, validation.iloc[0:0])
    with pytest.raises(ModelError, match="constant"):
        fast.fit(train.assign(target=3.0), validation.assign(target=3.0))
    bad = train.copy()
    bad.loc[bad.index[[0, 5]], "target"] = [np.nan, np.inf]
    with pytest.raises(ModelError, match=r"2 NaN or infinite.*'E\d+'"):
        fast.fit(bad, validation)
    with pytest.raises(ConfigError, match="Valid names"):
        HybridModel(global_model=GlobalModelSettings(estimator="XGBoost")).fit(train, validation)
    with pytest.raises(ConfigError, match="learning_rat"):
        HybridModel(global_model=GlobalModelSettings(params={"learning_rat": 0.1})).fit(
            train, validation
        )
    with pytest.raises(ConfigError, match="nope"):
        HybridModel(
            global_model=FAST_GLOBAL, local_models=LocalModelSettings(features=["nope"])
        ).fit(train, validation)


def test_missing_feature_in_predict(fitted_hybrid: tuple[HybridModel, pd.DataFrame]) -> None:
    model, test = fitted_hybrid
    with pytest.raises(ModelError, match="'x2'"):
        model.predict(test.drop(columns="x2"))


# -- accuracy on synthetic panels ---------------------------------------------------------


def _mse(y: pd.Series, prediction: pd.Series | np.ndarray) -> float:
    return float(np.mean((y.to_numpy() - np.asarray(prediction)) ** 2))


def _fit(
    panel: pd.DataFrame, entity_feature: bool | str = "auto"
) -> tuple[HybridModel, pd.DataFrame, pd.DataFrame, float]:
    train, validation, test = time_split(panel)
    settings = FAST_GLOBAL.model_copy(update={"entity_feature": entity_feature})
    # synthetic rows are independent: no Newey-West lags
    selection = SelectionSettings(dependence_lags=0)
    model = HybridModel(global_model=settings, selection=selection, seed=0)
    model.fit(train, validation)
    plain = GlobalModel(FAST_GLOBAL, seed=0).fit(train, validation)
    return model, test, model.predict(test), _mse(test["target"], plain.predict(test))


def test_homogeneous_entities_stay_global() -> None:
    panel, _ = make_synthetic_panel(150, 40, 4, heterogeneity=0.0, noise=1.0, seed=11)
    model, test, out, plain_mse = _fit(panel)
    assert (model.decisions_["decision"] == "global").mean() >= 0.95
    hybrid = _mse(test["target"], out["prediction"])
    assert hybrid <= 1.005 * _mse(test["target"], out["global_prediction"])
    assert hybrid <= 1.005 * plain_mse


@pytest.mark.parametrize("entity_feature", ["auto", False])
def test_heterogeneous_entities_close_the_gap_to_the_noise_floor(
    entity_feature: bool | str,
) -> None:
    panel, truth = make_synthetic_panel(120, 80, 4, heterogeneity=2.0, noise=0.5, seed=12)
    _, test, out, plain_mse = _fit(panel, entity_feature)
    floor = _mse(test["target"], truth.mean[test.index.to_numpy()])
    hybrid = _mse(test["target"], out["prediction"])
    closed = (plain_mse - hybrid) / (plain_mse - floor)
    assert closed >= 0.8, (plain_mse, hybrid, floor)


def test_mixed_panel_goes_local_where_heterogeneity_was_planted() -> None:
    panel, truth = make_synthetic_panel(
        150, 80, 4, heterogeneity=2.0, heterogeneous_fraction=0.3, noise=0.5, seed=13
    )
    # without the entity id the global model cannot absorb the planted deviations, so
    # this isolates what the per-entity selection does
    model, test, out, plain_mse = _fit(panel, entity_feature=False)
    decisions = model.decisions_.set_index("entity_id")
    planted = pd.Series(truth.heterogeneous, index=truth.entity_ids).reindex(decisions.index)
    leaves = decisions["decision"] != "global"
    assert leaves.sum() > 0
    assert planted[leaves].mean() >= 0.9
    assert leaves[planted].mean() >= 0.5
    assert _mse(test["target"], out["prediction"]) < plain_mse


@pytest.mark.parametrize("seed", [21, 22])
def test_thin_noisy_entities_never_hurt(seed: int) -> None:
    panel, _ = make_synthetic_panel(
        120,
        16,
        6,
        heterogeneity=0.3,
        noise=2.0,
        seed=seed,
        few_rows_fraction=0.3,
        missing_rate=0.05,
    )
    _, test, out, plain_mse = _fit(panel)
    assert _mse(test["target"], out["prediction"]) <= 1.005 * plain_mse


def test_blend_and_dependence_settings_run(small_panel: pd.DataFrame) -> None:
    train, validation, test = time_split(small_panel)
    model = HybridModel(
        global_model=FAST_GLOBAL.model_copy(update={"entity_feature": False}),
        local_models=LocalModelSettings(candidates=["residual"], blend=True, alphas=[1.0]),
        selection=SelectionSettings(dependence_lags=2, multiple_testing="bonferroni"),
    ).fit(train, validation)
    assert set(model.decisions_["candidate"].dropna()) <= {"residual", "residual+blend"}
    assert len(model.predict(test)) == len(test)
