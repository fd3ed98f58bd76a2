from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, LocalModelSettings, SelectionSettings
from glocal.core.errors import ConfigError, DataValidationError, ModelError, NotFittedError
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import DECISION_COLUMNS, PREDICTION_COLUMNS, GlobalModel, HybridModel
from tests.models.conftest import FAST_GLOBAL, history_test, synthetic_hybrid


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
    np.testing.assert_allclose(out["global_prediction"], model.global_stage_.predict(test))
    assert model.local_bank_.predict(test).shape == (len(test),)
    assert model.feature_columns_ == ["x0", "x1", "x2", "country"]
    assert model.categorical_columns_ == ["country"]


def test_decisions_one_row_per_history_entity(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], small_panel: pd.DataFrame
) -> None:
    model, _ = fitted_hybrid
    history, _ = history_test(small_panel)
    decisions = model.decisions_
    assert tuple(decisions.columns) == DECISION_COLUMNS
    assert sorted(decisions["entity_id"]) == sorted(history["entity_id"].unique())
    assert set(decisions["decision"]) <= {"global", "local", "blend"}


def test_folds_and_report(fitted_hybrid: tuple[HybridModel, pd.DataFrame]) -> None:
    model, _ = fitted_hybrid
    assert [fold.index for fold in model.folds_] == [0, 1, 2]
    # each fold's training rows end an embargo before its first cutoff, and folds abut
    for newer, older in zip(model.folds_, model.folds_[1:], strict=False):
        assert older.end == newer.start
    for fold in model.folds_:
        assert (fold.start - fold.train_end).days == 7
    report = model.report_
    assert {"folds", "global_stage", "population_guard", "dependence_lags"} <= set(report)
    assert report["population_guard"]["outcome"]
    assert model.lags_ == 0  # one-week targets every week: no overlap


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
    model = HybridModel(global_model=FAST_GLOBAL, seed=7, horizon_days=14, objective="mae")
    assert model.global_model is FAST_GLOBAL and model.seed == 7
    assert model.horizon_days == 14 and model.objective == "mae"
    assert not hasattr(model, "decisions_")


def test_bad_inputs(small_panel: pd.DataFrame) -> None:
    history, _ = history_test(small_panel)
    fast = synthetic_hybrid()
    with pytest.raises(ModelError, match="history frame is empty"):
        fast.fit(history.iloc[0:0])
    with pytest.raises(ModelError, match="constant"):
        fast.fit(history.assign(target=3.0))
    bad = history.copy()
    bad.loc[bad.index[[0, 5]], "target"] = [np.nan, np.inf]
    with pytest.raises(ModelError, match=r"2 NaN or infinite.*'E\d+'"):
        fast.fit(bad)
    with pytest.raises(ConfigError, match="Valid names"):
        synthetic_hybrid(global_model=GlobalModelSettings(estimator="XGBoost")).fit(history)
    with pytest.raises(ConfigError, match="learning_rat"):
        synthetic_hybrid(global_model=GlobalModelSettings(params={"learning_rat": 0.1})).fit(
            history
        )
    with pytest.raises(ConfigError, match="nope"):
        synthetic_hybrid(local_models=LocalModelSettings(features=["nope"])).fit(history)
    with pytest.raises(DataValidationError, match="too little history for 3 validation folds"):
        fast.fit(history[history["cutoff"] >= history["cutoff"].max() - pd.Timedelta(days=50)])


def test_missing_feature_in_predict(fitted_hybrid: tuple[HybridModel, pd.DataFrame]) -> None:
    model, test = fitted_hybrid
    with pytest.raises(ModelError, match="'x2'"):
        model.predict(test.drop(columns="x2"))


def test_lags_are_derived_from_the_horizon_and_the_cutoff_spacing(
    small_panel: pd.DataFrame,
) -> None:
    history, _ = history_test(small_panel)
    # a library user's default model: weekly cutoffs and a 30-day target overlap 4 weeks
    assert HybridModel(split=synthetic_hybrid().split).layout(history)[1] == 4
    explicit = HybridModel(
        selection=SelectionSettings(dependence_lags=1), split=synthetic_hybrid().split
    )
    assert explicit.layout(history)[1] == 1


# -- accuracy on synthetic panels ---------------------------------------------------------


def _mse(y: pd.Series, prediction: pd.Series | np.ndarray) -> float:
    return float(np.mean((y.to_numpy() - np.asarray(prediction)) ** 2))


def _fit(
    panel: pd.DataFrame, entity_feature: bool | str = "auto", fold_days: int = 42
) -> tuple[HybridModel, pd.DataFrame, pd.DataFrame, float]:
    """Fit the hybrid; also return the test MSE of a plain global learner fitted alike."""
    history, test = history_test(panel)
    settings = FAST_GLOBAL.model_copy(update={"entity_feature": entity_feature})
    split = SplitSettings(validation_days=fold_days, folds=3)
    model = synthetic_hybrid(global_model=settings, split=split).fit(history)
    fold = model.folds_[0]
    cutoffs = history["cutoff"]
    plain = GlobalModel(FAST_GLOBAL.model_copy(update={"refit_on_validation": False}), seed=0)
    plain.fit(history[fold.train_mask(cutoffs)], history[fold.validation_mask(cutoffs)])
    plain = plain.refit(history)
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
    assert _mse(test["target"], out["prediction"]) < 0.8 * plain_mse
    assert model.report_["population_guard"]["outcome"] in ("kept", "tightened")


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
    _, test, out, plain_mse = _fit(panel, fold_days=14)  # 12 weeks of history
    assert _mse(test["target"], out["prediction"]) <= 1.005 * plain_mse


def test_pure_noise_candidates_are_stopped_by_the_guard() -> None:
    # no entity deviates; with the most lenient test every noisy winner would switch, and
    # the guard, scoring those switches on held-out folds, must send everyone back
    panel, _ = make_synthetic_panel(300, 40, 4, heterogeneity=0.0, noise=1.0, seed=14)
    lenient = SelectionSettings(significance=0.9, multiple_testing="none", min_nonzero_rows=0)
    model, test, out, _ = _fit_with(panel, selection=lenient)
    assert (model.decisions_["decision"] == "global").mean() >= 0.98
    guard = model.report_["population_guard"]
    assert guard["levels"][0]["switched_per_fold"][0] > 10  # the loosest level did switch
    assert not guard["levels"][0]["accepted"]
    assert _mse(test["target"], out["prediction"]) <= 1.005 * _mse(
        test["target"], out["global_prediction"]
    )


def _fit_with(
    panel: pd.DataFrame, **settings: object
) -> tuple[HybridModel, pd.DataFrame, pd.DataFrame, None]:
    history, test = history_test(panel)
    model = synthetic_hybrid(**settings).fit(history)
    return model, test, model.predict(test), None


def test_blend_and_dependence_settings_run(small_panel: pd.DataFrame) -> None:
    history, test = history_test(small_panel)
    model = synthetic_hybrid(
        global_model=FAST_GLOBAL.model_copy(update={"entity_feature": False}),
        local_models=LocalModelSettings(candidates=["residual"], blend=True, alphas=[1.0]),
        selection=SelectionSettings(dependence_lags=2, multiple_testing="bonferroni"),
    ).fit(history)
    assert set(model.decisions_["candidate"].dropna()) <= {"residual", "residual+blend"}
    assert model.lags_ == 2
    assert len(model.predict(test)) == len(test)


def test_mae_objective_fits_median_learners(small_panel: pd.DataFrame) -> None:
    history, test = history_test(small_panel)
    model = synthetic_hybrid(objective="mae").fit(history)
    learner = next(iter(model.global_stage_.models_.values()))
    assert learner.objective == "mae"
    assert learner.booster_.params["objective"] == "regression_l1"
    assert model.candidates_.objective == "mae"
    assert np.isfinite(model.predict(test)["prediction"]).all()


def test_global_learners_fitted_on_threads_give_the_same_model() -> None:
    panel, _ = make_synthetic_panel(120, 30, 3, heterogeneity=1.0, noise=0.5, seed=4)
    fits = []
    for workers in (1, 2):
        settings = FAST_GLOBAL.model_copy(update={"fit_workers": workers})
        model = synthetic_hybrid(global_model=settings).fit(panel)
        fits.append(model.predict(panel)["prediction"].to_numpy())
    np.testing.assert_array_equal(fits[0], fits[1])
