"""Which entities' local models now lose to the global model, significantly.

An entity is tested when a local model (or a blend) served it on at least
``monitoring.demotion_min_periods`` realized predictions of the window.

**Squared error (``objective: mse``).** Write ``delta_t = served_t - global_t`` (the local
correction, known when the prediction was served) and ``r_t = target_t - global_t`` (the
global model's residual). Then ``served loss - global loss = delta_t^2 - 2 delta_t r_t``:
the local model loses exactly when ``beta = sum delta r / sum delta^2``, the share of its
correction that came true, is below 1/2. The test is on ``beta`` with the corrections
given, ``t = (sum delta^2 - 2 sum delta r) / (2 s sqrt(sum delta^2))``, ``s^2`` the residual
variance of ``r`` around ``beta delta``. Unlike a t-test on the raw loss differences, a
correction that is large one week and small the next does not count as noise: that made
the raw test miss most changed entities for several periods.

**Absolute error (``objective: mae``).** The loss difference is not linear in ``r``; the
test is a t-test on the mean of ``served loss - global loss``.

Common to both:

* **Variance.** An entity's own variance (of ``r`` around ``beta delta``, or of the loss
  differences) is shrunk, with the weight of :data:`PRIOR_PERIODS` periods, toward a prior
  on its own scale: the median over the tested entities of the variance relative to the
  entity's scale, times its own scale. The scale is ``(served loss + global loss)^2`` for
  the loss differences, and that divided by the mean squared correction for ``r``. Two
  nearly equal periods cannot make a tiny variance, and a big spender is not judged with
  a small spender's variance.
* **Overlapping horizons.** Targets of consecutive cutoffs overlap when the horizon is
  longer than the cutoff spacing, so their errors are correlated. The variance of the sum
  uses the correlation of overlapping sums, ``rho_j = max(0, 1 - j * spacing / horizon)``,
  for ``n`` periods: ``var * n * (1 + 2 sum_j (1 - j/n) rho_j)`` (exact for a steady
  correction); and the sample variance, which the same correlation shrinks, is divided by
  its expected shrinkage (:func:`variance_bias`).
* **Test.** One-sided Student t with ``n - 1 + PRIOR_PERIODS`` degrees of freedom; the
  entity is demoted when the local model did worse (mean loss difference > 0) and
  ``p < demotion_significance``, or when the population's empirical-Bayes step counts it
  among the lost (:func:`judge_demotions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from glocal.config.models import Objective
from glocal.config.monitoring import MonitoringSettings

__all__ = [
    "EB_MIN_ENTITIES",
    "PRIOR_PERIODS",
    "bayes_discoveries",
    "judge_demotions",
    "overlap_factor",
    "posterior_worse",
]

PRIOR_PERIODS = 3
"""Weight, in periods, of the pooled variance in each entity's shrunk variance."""


def overlap_factor(periods: np.ndarray, spacing_days: int, horizon_days: int) -> np.ndarray:
    """Return ``1 + 2 sum_j (1 - j/n) rho_j`` for each ``n`` in ``periods``.

    Examples:
        >>> overlap_factor(np.array([1, 2]), 7, 7).tolist()
        [1.0, 1.0]
        >>> round(float(overlap_factor(np.array([2]), 7, 14)[0]), 3)
        1.5

    """
    n = np.asarray(periods, dtype=np.int64)
    rho = _rho(int(n.max(initial=1)), spacing_days, horizon_days)
    lags = np.arange(1, len(rho) + 1)
    weights = np.clip(1.0 - lags[None, :] / np.maximum(n[:, None], 1), 0.0, None)
    return np.asarray(1.0 + 2.0 * (weights * rho[None, :]).sum(axis=1), dtype=np.float64)


def _rho(n_max: int, spacing_days: int, horizon_days: int) -> np.ndarray:
    lags = np.arange(1, max(n_max, 1))
    return np.asarray(np.clip(1.0 - lags * spacing_days / horizon_days, 0.0, None), np.float64)


def variance_bias(periods: np.ndarray, spacing_days: int, horizon_days: int) -> np.ndarray:
    """Return E[sample variance] / variance for ``n`` correlated periods (1 if independent).

    ``1 - 2 sum_j (n - j) rho_j / (n (n - 1))``, floored at 0.05.

    Examples:
        >>> variance_bias(np.array([2, 3]), 7, 7).tolist()
        [1.0, 1.0]
        >>> round(float(variance_bias(np.array([2]), 7, 14)[0]), 3)
        0.5

    """
    n = np.asarray(periods, dtype=np.int64)
    rho = _rho(int(n.max(initial=1)), spacing_days, horizon_days)
    lags = np.arange(1, len(rho) + 1)
    counts = np.clip(n[:, None] - lags[None, :], 0, None)
    pairs = np.maximum(n * (n - 1), 1).astype(np.float64)
    bias = 1.0 - 2.0 * (counts * rho[None, :]).sum(axis=1) / pairs
    return np.asarray(np.maximum(bias, 0.05), dtype=np.float64)


_CORRECTION_COLUMNS = ("correction_sq", "correction_residual", "residual_sq")


def _shrunk(own: np.ndarray, scale: np.ndarray, n: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Return each entity's variance shrunk toward ``median(own / scale) * scale``."""
    usable = pool & np.isfinite(own) & (scale > 0)
    ratios = own[usable] / scale[usable]
    relative = float(np.median(ratios)) if len(ratios) else 1.0
    own = np.where(np.isfinite(own) & (n >= 2), own, 0.0)
    prior = relative * scale
    weight = (n - 1).clip(0)
    return np.asarray((weight * own + PRIOR_PERIODS * prior) / (weight + PRIOR_PERIODS))


def _squared_error_stat(
    frame: pd.DataFrame, n: np.ndarray, tested: np.ndarray, spacing: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``1/2 - beta`` (see the module docstring) and its standard error per entity."""
    sdd = frame["correction_sq"].to_numpy(dtype=np.float64)
    sdr = frame["correction_residual"].to_numpy(dtype=np.float64)
    srr = frame["residual_sq"].to_numpy(dtype=np.float64)
    positive = sdd > 0
    safe = np.where(positive, sdd, 1.0)
    rss = np.maximum(srr - np.where(positive, sdr * sdr / safe, 0.0), 0.0)
    periods = n.astype(np.int64)
    own = rss / np.maximum(n - 1, 1) / variance_bias(periods, spacing, horizon)
    own = np.where(n >= 2, own, np.nan)
    # the noise is at most the smaller of the two mean squared errors (each is the noise
    # plus that model's squared bias): the scale of an entity's variance
    # the prior of the loss differences' variance is on the scale (served + global loss)^2,
    # as in the t-test on differences; through delta_bar^2 it is a scale of r's variance
    level = frame["served_loss"].to_numpy(dtype=np.float64) + frame["global_loss"].to_numpy(
        dtype=np.float64
    )
    scale = level**2 / np.maximum(sdd / np.maximum(n, 1), 1e-300)
    variance = _shrunk(own, scale, n, tested & (n >= 2))
    spread = overlap_factor(periods, spacing, horizon) / safe
    se = np.sqrt(np.maximum(variance * spread, 1e-300))
    effect = np.where(tested & positive, 0.5 - sdr / safe, 0.0)
    return effect, np.where(tested & positive, se, np.inf)


def _difference_stat(
    frame: pd.DataFrame, n: np.ndarray, tested: np.ndarray, spacing: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean loss difference relative to the loss level, and its standard error."""
    mean = frame["loss_difference"].to_numpy(dtype=np.float64)
    periods = n.astype(np.int64)
    # correlated periods lie close together: undo that bias of the sample variance
    own = frame["difference_variance"].to_numpy(dtype=np.float64) / variance_bias(
        periods, spacing, horizon
    )
    own = np.where(n >= 2, own, np.nan)
    # the prior variance scales with the entity's own loss level: big spenders vary more
    level = np.maximum(
        frame["served_loss"].to_numpy(dtype=np.float64)
        + frame["global_loss"].to_numpy(dtype=np.float64),
        1e-12,
    )
    pool = tested & (n >= 2) & np.isfinite(own)
    if not pool.any():  # no entity with two periods yet: the squared differences
        own = np.where(tested, mean**2, np.nan)
        pool = tested
    variance = _shrunk(own, level**2, n, pool)
    factor = overlap_factor(periods, spacing, horizon)
    se = np.sqrt(np.maximum(variance, 1e-300) * factor / np.maximum(n, 1))
    return np.where(tested, mean / level, 0.0), np.where(tested, se / level, np.inf)


EB_MIN_ENTITIES = 50
"""Fewest tested entities from which the population prior is estimated (else a t-test)."""

_GRID_POINTS = 121
_PRIOR_SAMPLE = 20_000
_EM_ITERATIONS = 300
_CHUNK = 50_000


def _likelihood(
    effect: np.ndarray, se: np.ndarray, dof: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    z = (effect[:, None] - grid[None, :]) / se[:, None]
    return np.asarray(stats.t.pdf(z, dof[:, None]) / se[:, None], dtype=np.float64)


def posterior_worse(
    effect: np.ndarray, se: np.ndarray, dof: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Return each entity's posterior probability that its true effect is above 0.

    The prior is the population's distribution of effects, estimated from all the entities
    at once (a nonparametric maximum likelihood fit on a grid, by EM, on at most
    20,000 entities), so the entities borrow strength from each other: where most local
    models still hold and a few lost their edge, an entity whose estimate is noisy but
    near the lost ones is judged lost. The likelihood is Student t with each entity's
    degrees of freedom around its estimate.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> truth = np.where(rng.random(2000) < 0.2, 0.5, -0.5)
        >>> effect = truth + rng.normal(0, 0.3, 2000)
        >>> worse = posterior_worse(effect, np.full(2000, 0.3), np.full(2000, 5.0))
        >>> round(float((worse[truth > 0] > 0.5).mean()), 2)  # lost, judged lost
        0.84
        >>> round(float((worse[truth < 0] > 0.5).mean()), 2)  # held, judged lost
        0.01

    """
    effect = np.asarray(effect, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    dof = np.asarray(dof, dtype=np.float64)
    rng = np.random.default_rng(seed)
    sample = rng.permutation(len(effect))[:_PRIOR_SAMPLE]
    # grid points where the estimates lie (effects' spread differs wildly between
    # entities), and a fine grid around 0, where the decision is made
    spread = float(np.median(se[sample]))
    grid = np.unique(
        np.concatenate(
            [
                np.quantile(effect[sample], np.linspace(0.0, 1.0, _GRID_POINTS)),
                np.linspace(-spread, spread, 41),
            ]
        )
    )
    likelihood = _likelihood(effect[sample], se[sample], dof[sample], grid)
    weights = np.full(len(grid), 1.0 / len(grid))
    for _ in range(_EM_ITERATIONS):
        joint = likelihood * weights
        joint /= np.maximum(joint.sum(axis=1, keepdims=True), 1e-300)
        weights = joint.mean(axis=0)
    above = grid > 0
    worse = np.empty(len(effect))
    for start in range(0, len(effect), _CHUNK):
        part = slice(start, start + _CHUNK)
        joint = _likelihood(effect[part], se[part], dof[part], grid) * weights
        total = np.maximum(joint.sum(axis=1), 1e-300)
        worse[part] = joint[:, above].sum(axis=1) / total
    return np.clip(worse, 0.0, 1.0)


def bayes_discoveries(not_worse: np.ndarray, level: float) -> np.ndarray:
    """Return the largest set whose mean posterior probability of a false call is <= level.

    Examples:
        >>> bayes_discoveries(np.array([0.01, 0.5, 0.02, 0.09]), 0.05).tolist()
        [True, False, True, True]

    """
    order = np.argsort(not_worse, kind="stable")
    running = np.cumsum(not_worse[order]) / np.arange(1, len(order) + 1)
    count = int(np.flatnonzero(running <= level).max(initial=-1)) + 1
    chosen = np.zeros(len(not_worse), dtype=bool)
    chosen[order[:count]] = True
    return chosen


def judge_demotions(
    entities: pd.DataFrame,
    settings: MonitoringSettings,
    spacing_days: int,
    horizon_days: int,
    objective: Objective = "mse",
) -> pd.DataFrame:
    """Add ``tested``, ``t_stat``, ``p_value``, ``posterior_worse`` and ``demote``.

    An entity is demoted when its served loss is above the global loss in the window and
    either of two tests says its local model lost:

    * its own one-sided t-test at ``demotion_significance``;
    * with ``demotion_pooling`` and at least :data:`EB_MIN_ENTITIES` tested entities, the
      population's: the largest set of entities whose expected share of local models that
      did not in truth lose is at most ``demotion_significance``
      (:func:`posterior_worse`, :func:`bayes_discoveries`). Where most local models hold
      and some lost their edge, this catches the lost ones whose own evidence is thin
      after a few periods.

    Args:
        entities: From :func:`~glocal.monitoring.live_error.live_errors`
            (``local_periods``, ``loss_difference``, ``difference_variance`` and the
            correction sums ``correction_sq``, ``correction_residual``, ``residual_sq``).
        settings: The monitoring settings (minimum periods, test level).
        spacing_days: Days between consecutive cutoffs.
        horizon_days: The target's horizon.
        objective: The loss the served and global predictions are compared on.

    """
    frame = entities.copy()
    n = frame["local_periods"].to_numpy(dtype=np.float64)
    mean = frame["loss_difference"].to_numpy(dtype=np.float64)
    tested = (n >= settings.demotion_min_periods) & np.isfinite(mean)
    squared = objective == "mse" and all(c in frame.columns for c in _CORRECTION_COLUMNS)
    statistic = _squared_error_stat if squared else _difference_stat
    effect, se = statistic(frame, n, tested, spacing_days, horizon_days)
    t_stat = np.where(tested, effect / se, np.nan)
    dof = np.maximum(n - 1, 0) + PRIOR_PERIODS
    p_value = np.where(tested, stats.t.sf(np.nan_to_num(t_stat), dof), np.nan)
    level = settings.demotion_significance
    worse = np.full(len(frame), np.nan)
    chosen = p_value < level
    if settings.demotion_pooling and int(tested.sum()) >= EB_MIN_ENTITIES:
        worse[tested] = posterior_worse(effect[tested], se[tested], dof[tested])
        chosen[tested] |= bayes_discoveries(1.0 - worse[tested], level)
    frame["tested"] = tested
    frame["t_stat"] = t_stat
    frame["p_value"] = p_value
    frame["posterior_worse"] = worse
    frame["demote"] = tested & (mean > 0) & chosen
    return frame
