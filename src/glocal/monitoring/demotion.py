"""Which entities' local models now lose to the global model, significantly.

An entity is tested when a local model (or a blend) served it on at least
``monitoring.demotion_min_periods`` realized predictions of the window. Its evidence is the
mean of ``served loss - global loss`` over those predictions (> 0: local is worse).

* **Variance.** An entity's own variance of the differences is shrunk, with the weight of
  :data:`PRIOR_PERIODS` periods, toward a prior on its own scale: the median over the
  tested entities of ``variance / (served loss + global loss)^2``, times its own
  ``(served loss + global loss)^2``. Two nearly equal differences cannot make a tiny
  variance, and a big spender is not judged with a small spender's variance.
* **Overlapping horizons.** Targets of consecutive cutoffs overlap when the horizon is
  longer than the cutoff spacing, so their differences are correlated. The variance of the
  mean uses the correlation of overlapping sums, ``rho_j = max(0, 1 - j * spacing /
  horizon)``, exactly for ``n`` periods: ``var / n * (1 + 2 sum_j (1 - j/n) rho_j)``; and
  the sample variance, which the same correlation shrinks, is divided by its expected
  shrinkage (:func:`variance_bias`).
* **Test.** One-sided Student t with ``n - 1 + PRIOR_PERIODS`` degrees of freedom; the
  entity is demoted when the difference is positive and ``p < demotion_significance``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from glocal.config.monitoring import MonitoringSettings

__all__ = ["PRIOR_PERIODS", "judge_demotions", "overlap_factor"]

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


def judge_demotions(
    entities: pd.DataFrame,
    settings: MonitoringSettings,
    spacing_days: int,
    horizon_days: int,
) -> pd.DataFrame:
    """Add ``tested``, ``t_stat``, ``p_value`` and ``demote`` to the per-entity frame.

    Args:
        entities: From :func:`~glocal.monitoring.live_error.live_errors`
            (``local_periods``, ``loss_difference``, ``difference_variance``).
        settings: The monitoring settings (minimum periods, test level).
        spacing_days: Days between consecutive cutoffs.
        horizon_days: The target's horizon.

    """
    frame = entities.copy()
    n = frame["local_periods"].to_numpy(dtype=np.float64)
    tested = (n >= settings.demotion_min_periods) & frame["loss_difference"].notna().to_numpy()
    mean = frame["loss_difference"].to_numpy(dtype=np.float64)
    # correlated periods lie close together: undo that bias of the sample variance
    own = frame["difference_variance"].to_numpy(dtype=np.float64) / variance_bias(
        n.astype(np.int64), spacing_days, horizon_days
    )
    # the prior variance scales with the entity's own loss level: big spenders vary more
    scale = np.maximum(
        frame["served_loss"].to_numpy(dtype=np.float64)
        + frame["global_loss"].to_numpy(dtype=np.float64),
        1e-12,
    )
    pool_from = tested & (n >= 2) & np.isfinite(own)
    ratios = own[pool_from] / scale[pool_from] ** 2
    relative = float(np.median(ratios)) if len(ratios) else float("nan")
    if not np.isfinite(relative):  # no entity with two periods yet: the squared differences
        relative = float(np.mean((mean[tested] / scale[tested]) ** 2)) if tested.any() else 1.0
    own = np.where(np.isfinite(own) & (n >= 2), own, 0.0)
    prior = relative * scale**2
    shrunk = ((n - 1).clip(0) * own + PRIOR_PERIODS * prior) / ((n - 1).clip(0) + PRIOR_PERIODS)
    factor = overlap_factor(n.astype(np.int64), spacing_days, horizon_days)
    se = np.sqrt(np.maximum(shrunk, 1e-300) * factor / np.maximum(n, 1))
    t_stat = np.where(tested, mean / se, np.nan)
    dof = np.maximum(n - 1, 0) + PRIOR_PERIODS
    p_value = np.where(tested, stats.t.sf(np.nan_to_num(t_stat), dof), np.nan)
    frame["tested"] = tested
    frame["t_stat"] = t_stat
    frame["p_value"] = p_value
    frame["demote"] = tested & (mean > 0) & (p_value < settings.demotion_significance)
    return frame
