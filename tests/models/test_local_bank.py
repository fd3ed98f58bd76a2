from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config.models import LocalModelSettings
from glocal.core.errors import ModelError, NotFittedError
from glocal.data.synthetic import make_synthetic_panel
from glocal.models import LocalModelBank, fit_local_banks
from glocal.models.local_bank import predict_banks
from glocal.models.ridge_solver import predict_grouped_ridges


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame, _ = make_synthetic_panel(
        40, 20, 4, heterogeneity=1.0, noise=0.2, seed=5, few_rows_fraction=0.2, missing_rate=0.05
    )
    return frame


def test_fit_predict_uses_numeric_features_only(panel: pd.DataFrame) -> None:
    bank = LocalModelBank(min_train_rows=5).fit(panel)
    assert bank.feature_columns_ == ["x0", "x1", "x2", "x3"]
    prediction = bank.predict(panel)
    has_model = panel["entity_id"].isin(bank.entity_ids_)
    assert np.isfinite(prediction[has_model.to_numpy()]).all()
    assert np.isnan(prediction[~has_model.to_numpy()]).all()
    assert (bank.n_train_ >= 5).all()


def test_local_models_fit_better_than_pooled_mean(panel: pd.DataFrame) -> None:
    bank = LocalModelBank(alphas=[0.001, 0.01, 0.1]).fit(panel)
    prediction = bank.predict(panel)
    ok = np.isfinite(prediction)
    y = panel["target"].to_numpy()[ok]
    assert np.mean((y - prediction[ok]) ** 2) < 0.2 * np.var(y)


def test_unseen_entity_predicts_nan(panel: pd.DataFrame) -> None:
    bank = LocalModelBank().fit(panel)
    other = panel.head(3).assign(entity_id="nobody")
    assert np.isnan(bank.predict(other)).all()


def test_frame_round_trip_through_parquet(panel: pd.DataFrame, tmp_path: Path) -> None:
    bank = LocalModelBank(min_train_rows=3).fit(panel)
    path = tmp_path / "bank.parquet"
    bank.to_frame().to_parquet(path)
    restored = LocalModelBank.from_frame(pd.read_parquet(path))
    np.testing.assert_array_equal(restored.predict(panel), bank.predict(panel))
    assert restored.feature_columns_ == bank.feature_columns_


def test_shared_fit_of_several_targets(panel: pd.DataFrame) -> None:
    y = panel["target"].to_numpy()
    banks = fit_local_banks(panel, {"a": y, "b": y - 1.0}, min_train_rows=5)
    np.testing.assert_allclose(banks["a"].predict(panel) - 1.0, banks["b"].predict(panel))


def test_banks_of_one_fit_predict_together_as_one_by_one(panel: pd.DataFrame) -> None:
    y = panel["target"].to_numpy()
    banks = fit_local_banks(panel, {"a": y, "b": np.sqrt(np.abs(y))}, min_train_rows=5)
    other = fit_local_banks(panel, {"c": -y}, min_train_rows=5)["c"]
    alone = [bank.predict(panel) for bank in (banks["a"], banks["b"], other)]
    assert banks["a"].means_ is banks["b"].means_  # one copy of the shared scaling
    together = predict_banks(panel, [banks["a"], banks["b"], other])  # c: one by one
    for expected, got in zip(alone, together, strict=True):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="states of one fit"):
        predict_grouped_ridges(
            np.zeros((1, 4)), np.zeros(1, dtype=np.int64), [banks["a"]._arrays, other._arrays]
        )


def test_unregularized_bank_and_settings(panel: pd.DataFrame) -> None:
    bank = LocalModelBank.unregularized(min_train_rows=20).fit(panel)
    assert (bank.alpha_ == 0).all() and (bank.scales_ == 1).all()
    from_settings = LocalModelBank.from_settings(LocalModelSettings(alphas=[2.0]))
    assert list(from_settings.alphas) == [2.0]


def test_errors(panel: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        LocalModelBank().predict(panel)
    bank = LocalModelBank().fit(panel)
    with pytest.raises(ModelError, match="x1"):
        bank.predict(panel.drop(columns="x1"))
    with pytest.raises(ModelError, match="finite"):
        LocalModelBank().fit(panel, target=np.full(len(panel), np.nan))


def test_chunks_of_entities_fit_and_predict_exactly_as_one_pass(
    panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glocal.models import local_bank
    from glocal.models.frames import coded_entities

    coded, _ = coded_entities(panel)
    targets = {"y": coded["target"].to_numpy(), "y2": coded["target"].to_numpy() ** 2}
    whole = fit_local_banks(coded, targets, min_train_rows=3)
    expected = whole["y"].predict(coded)
    monkeypatch.setattr(local_bank, "FIT_CHUNK_ROWS", 37)  # a chunk is a few entities
    chunked = fit_local_banks(coded, targets, min_train_rows=3)
    for name in targets:
        pd.testing.assert_frame_equal(chunked[name].to_frame(), whole[name].to_frame())
    np.testing.assert_array_equal(chunked["y"].predict(coded), expected)
    bad = dict(targets, y=np.where(np.arange(len(coded)) == len(coded) - 1, np.nan, 1.0))
    with pytest.raises(ModelError, match="must be finite"):
        fit_local_banks(coded, bad)


@pytest.mark.parametrize("chunk_rows", [1 << 20, 37])
def test_banks_fitted_with_their_in_sample_predictions(
    panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    from glocal.models import local_bank
    from glocal.models.frames import coded_entities

    coded, _ = coded_entities(panel)
    monkeypatch.setattr(local_bank, "FIT_CHUNK_ROWS", chunk_rows)
    y = coded["target"].to_numpy()
    targets = {"y": y, "y2": np.sqrt(np.abs(y))}
    plain = fit_local_banks(coded, targets, min_train_rows=12)
    in_sample: dict[str, np.ndarray] = {}
    banks = fit_local_banks(coded, targets, min_train_rows=12, in_sample_out=in_sample)
    for name in targets:  # the same banks, and their predictions of the rows they fitted
        pd.testing.assert_frame_equal(banks[name].to_frame(), plain[name].to_frame())
        expected = plain[name].predict(coded)
        assert np.isnan(expected).any()  # some entities have too few rows for a model
        np.testing.assert_array_equal(np.isnan(in_sample[name]), np.isnan(expected))
        np.testing.assert_allclose(in_sample[name], expected, rtol=1e-10, atol=1e-10)
