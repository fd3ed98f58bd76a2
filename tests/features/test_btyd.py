"""glocal's BG/NBD + Gamma-Gamma against its own simulation and against pymc-marketing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.features import btyd
from glocal.features.btyd import (
    BgNbdParams,
    btyd_expected_spend,
    expected_purchases,
    expected_spend_per_purchase,
    fit_bgnbd,
    fit_gamma_gamma,
    load_remembered_fits,
    save_remembered_fits,
)


def simulate_bgnbd(
    n: int, params: BgNbdParams, age: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (x, t_x, T) from the BG/NBD story (Fader, Hardie & Lee 2005), customers aged ``age``."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    x, last = np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    clock = np.zeros(n)
    for _ in range(400):  # purchases in steps: every customer's next one at once
        clock = clock + rng.exponential(1.0 / rate)
        bought = alive & (clock < age)
        x[bought] += 1
        last[bought] = clock[bought]
        alive = bought & (rng.random(n) >= dropout)
        if not alive.any():
            break
    return x, last, np.full(n, age)


def test_fit_recovers_the_simulated_parameters() -> None:
    truth = BgNbdParams(r=0.6, alpha=20.0, a=0.8, b=2.5)
    x, t_x, age = simulate_bgnbd(20_000, truth, age=365.0, seed=1)
    fitted = fit_bgnbd(x, t_x, age)
    # the purchase rate r / alpha is what the data pins down best
    assert fitted.r / fitted.alpha == pytest.approx(truth.r / truth.alpha, rel=0.1)
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(0.8 / 3.3, rel=0.25)


def test_expectations_move_the_right_way() -> None:
    params = BgNbdParams(r=0.7, alpha=60.0, a=0.05, b=5.0)
    x = np.array([0.0, 5.0, 5.0, 20.0])
    t_x = np.array([0.0, 300.0, 30.0, 300.0])
    age = np.array([310.0, 310.0, 310.0, 310.0])
    expected = expected_purchases(params, 30, x, t_x, age)
    assert expected[1] > expected[0]  # more purchases, more expected
    assert expected[1] > expected[2]  # a long silence since the last one: probably gone
    assert expected[3] > expected[1]
    assert np.all(expected >= 0)


def test_heavy_tailed_spend_falls_back_to_the_own_mean() -> None:
    rng = np.random.default_rng(0)
    frequency = rng.integers(1, 5, 500).astype(float)
    monetary = rng.pareto(0.7, 500) * 100 + 1  # an infinite-mean tail
    params = fit_gamma_gamma(frequency, monetary)
    own = np.full(500, 42.0)
    spend = expected_spend_per_purchase(params, frequency, monetary, own)
    if params is None:
        np.testing.assert_array_equal(spend, own)
    else:
        assert params.q > 1.01 and np.isfinite(spend).all()


def test_each_cutoff_is_fitted_on_its_own() -> None:
    truth = BgNbdParams(r=0.6, alpha=20.0, a=0.8, b=2.5)
    x, t_x, age = simulate_bgnbd(3_000, truth, age=200.0, seed=2)
    monetary = np.full(len(x), 10.0)
    one = btyd_expected_spend(np.zeros(len(x), dtype=np.int64), x, t_x, age, monetary, monetary, 30)
    # the same rows next to another cutoff's: the forecast does not change at all
    both = btyd_expected_spend(
        np.r_[np.zeros(len(x)), np.ones(len(x))].astype(np.int64),
        np.r_[x, x + 1],
        np.r_[t_x, t_x + 5],
        np.r_[age, age + 7],
        np.r_[monetary, monetary],
        np.r_[monetary, monetary],
        30,
    )
    np.testing.assert_array_equal(both[: len(x)], one)


def test_remembered_fits_survive_the_process_and_never_change_a_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, t_x, age = simulate_bgnbd(500, BgNbdParams(r=0.6, alpha=20.0, a=0.8, b=2.5), 100.0, 3)
    monetary = np.full(len(x), 12.0)
    cutoff = np.zeros(len(x), dtype=np.int64)
    monkeypatch.setattr(btyd, "_fits", type(btyd._fits)())
    fresh = btyd_expected_spend(cutoff, x, t_x, age, monetary, monetary, 30)
    save_remembered_fits(tmp_path / "fits.json")
    monkeypatch.setattr(btyd, "_fits", type(btyd._fits)())  # a new process
    assert load_remembered_fits(tmp_path / "fits.json") == 2  # BG/NBD and Gamma-Gamma
    fitted: list[str] = []
    monkeypatch.setattr("scipy.optimize.minimize", lambda *a, **k: fitted.append("fit"))
    remembered = btyd_expected_spend(cutoff, x, t_x, age, monetary, monetary, 30)
    assert fitted == []  # nothing refitted
    np.testing.assert_array_equal(remembered, fresh)
    # damaged or foreign files are skipped: the fits are only computed again
    (tmp_path / "bad.json").write_text('{"format": "glocal-btyd-fits", "fits": [{"key": 1}]}')
    assert load_remembered_fits(tmp_path / "bad.json") == 0
    (tmp_path / "junk.json").write_text("not json")
    assert load_remembered_fits(tmp_path / "junk.json") == 0
    assert load_remembered_fits(tmp_path / "missing.json") == 0


@pytest.mark.slow
def test_closed_forms_match_pymc_marketing() -> None:
    clv = pytest.importorskip("pymc_marketing.clv", reason="the btyd extra is not installed")
    truth = BgNbdParams(r=0.6, alpha=20.0, a=0.8, b=2.5)
    x, t_x, age = simulate_bgnbd(2_000, truth, age=365.0, seed=3)
    data = pd.DataFrame(
        {"customer_id": np.arange(len(x)), "frequency": x, "recency": t_x, "T": age}
    )
    rng = np.random.default_rng(4)
    data["monetary_value"] = np.where(x > 0, rng.gamma(4.0, 25.0, len(x)), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = clv.BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]])
        model.fit(method="map", progressbar=False)
        theirs = model.expected_purchases(data=data, future_t=30).values.reshape(-1)
        names = ["r", "alpha", "a", "b"]
        fitted_bg = {k: float(model.fit_result[k].values.squeeze()) for k in names}
        repeat = data[data["frequency"] > 0]
        spend_model = clv.GammaGammaModel(
            data=repeat[["customer_id", "frequency", "monetary_value"]]
        )
        spend_model.fit(method="map", progressbar=False)
        their_spend = spend_model.expected_customer_spend(data=repeat).values.reshape(-1)
        fitted_gg = {k: float(spend_model.fit_result[k].values.squeeze()) for k in "pqv"}
    params = BgNbdParams(**fitted_bg)
    ours = expected_purchases(params, 30, x, t_x, age)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # Gamma-Gamma: pymc-marketing's flat priors make its MAP our maximum likelihood
    fitted = fit_gamma_gamma(repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy())
    assert fitted is not None
    for name in ("p", "q", "v"):
        assert getattr(fitted, name) == pytest.approx(fitted_gg[name], rel=0.02)
    ours_spend = expected_spend_per_purchase(
        fitted,
        repeat["frequency"].to_numpy(),
        repeat["monetary_value"].to_numpy(),
        np.zeros(len(repeat)),
    )
    np.testing.assert_allclose(ours_spend, their_spend, rtol=0.02)
