"""Snapshot features of (entity, cutoff) pairs, from running totals (all vectorized).

Every window feature over ``[cutoff + start, cutoff + stop)`` is the running total before
``cutoff + stop`` minus the one before ``cutoff + start``; counts and micro-unit money stay
integers until the last step, so each value is exact. The definitions are documented in
``docs/features.md``.
"""

from __future__ import annotations

import numpy as np

from glocal.config.features import FeatureSettings
from glocal.features.btyd import btyd_expected_spend
from glocal.features.running_totals import AsOf, RunningTotals
from glocal.features.schema import BASELINE_PREFIX

__all__ = ["BTYD_INPUT_PREFIX", "baseline_rate_windows", "snapshot_features", "snapshot_target"]

_MICROS = 1_000_000.0

BTYD_INPUT_PREFIX = "_btyd_"
"""Prefix of the deferred BG/NBD + Gamma-Gamma inputs (``frequency``, ``recency``, ``age``,
``repeat_monetary``, ``mean_monetary``: the arguments of ``btyd_expected_spend``)."""


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Return numerator / denominator as float64, NaN where the denominator is 0."""
    out = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


class _Windows:
    """Lookups of one set of (entity, cutoff) pairs at day offsets, each done once."""

    def __init__(self, totals: RunningTotals, entity: np.ndarray, cutoff: np.ndarray):
        self._totals, self._entity, self._cutoff = totals, entity, cutoff
        self._cache: dict[int, AsOf] = {}

    def at(self, offset: int) -> AsOf:
        if offset not in self._cache:
            self._cache[offset] = self._totals.as_of(self._entity, self._cutoff + offset)
        return self._cache[offset]

    def sum(self, measure: str, start: int, stop: int = 0) -> np.ndarray:
        """Total of ``measure`` over the days ``[cutoff + start, cutoff + stop)``."""
        total: np.ndarray = self.at(stop).total(measure) - self.at(start).total(measure)
        return total


def _interval_features(
    windows: _Windows, cutoff: np.ndarray, first_purchase: np.ndarray
) -> dict[str, np.ndarray]:
    now = windows.at(0)
    last = now.total("last_purchase")
    gaps = now.total("purchase_days") - 1
    span = last - first_purchase
    # k gaps between purchase days sum to last - first, so the mean is exact; the variance
    # k*sum(g^2) - (sum g)^2 over k^2 is computed in integers before the square root
    spread = np.maximum(gaps * now.total("gap_sq") - span * span, 0)
    std = _ratio(np.sqrt(spread.astype(np.float64)), gaps.astype(np.float64))
    std[gaps < 2] = np.nan
    return {
        "interval_mean_days": _ratio(span, gaps),
        "interval_std_days": std,
        "recency_to_interval": _ratio((cutoff - last) * gaps, span),
    }


def _trend(windows: _Windows, settings: FeatureSettings) -> np.ndarray:
    """Least-squares slope of spend per bucket over the last ``trend_buckets`` buckets.

    Bucket j = 0 (oldest) .. n-1 covers [cutoff - b(n-j), cutoff - b(n-1-j)); with x_j = j
    the slope is sum((2j - (n-1)) y_j) / (n(n^2 - 1) / 6).
    """
    n, width = settings.trend_buckets, settings.trend_bucket_days
    weighted = np.zeros(len(windows.at(0).total("net")), dtype=np.int64)
    for j in range(n):
        bucket = windows.sum("net", -width * (n - j), -width * (n - 1 - j))
        weighted += (2 * j - (n - 1)) * bucket
    return weighted / _MICROS / (n * (n * n - 1) / 6)


def baseline_rate_windows(settings: FeatureSettings) -> list[int]:
    """Return the look-back windows of the ``baseline_rate_<w>d`` columns.

    Every feature window longer than the horizon and shorter than the naive window: a
    shorter window is too noisy to forecast a whole horizon from, and the naive window has
    its own column, ``baseline_naive``.
    """
    horizon, naive = settings.horizon_days, settings.naive_window_days
    return sorted(w for w in settings.windows_days if horizon < w < naive)


def _baselines(
    windows: _Windows,
    totals: RunningTotals,
    entity: np.ndarray,
    cutoff: np.ndarray,
    first_purchase: np.ndarray,
    settings: FeatureSettings,
    seed: int,
    deferred_btyd: bool,
) -> dict[str, np.ndarray]:
    """Return the purchase-history features and the ``baseline_*`` forecasts.

    ``baseline_naive`` is the net spend of the last ``naive_window_days`` scaled to the
    horizon; ``baseline_rate_<w>d`` the same over shorter windows; ``baseline_btyd`` the
    BG/NBD + Gamma-Gamma expected spend (see :mod:`glocal.features.btyd`); with
    ``deferred_btyd`` it is NaN and its inputs follow as ``_btyd_*`` columns.
    """
    horizon = settings.horizon_days
    naive = settings.naive_window_days
    now = windows.at(0)
    purchase_days = now.total("purchase_days").astype(np.float64)
    gross = now.total("purchase_value") / _MICROS
    first_day = totals.as_of(entity, first_purchase + 1).total("purchase_value") / _MICROS
    repeats = np.maximum(purchase_days - 1.0, 0.0)
    columns: dict[str, np.ndarray] = {
        "purchase_days": purchase_days,
        "spend_per_purchase_day": _ratio(gross, purchase_days),
        f"{BASELINE_PREFIX}naive": windows.sum("net", -naive) / _MICROS * horizon / naive,
    }
    for window in baseline_rate_windows(settings):
        rate = windows.sum("net", -window) / _MICROS * horizon / window
        columns[f"{BASELINE_PREFIX}rate_{window}d"] = rate
    if settings.btyd:
        last = now.total("last_purchase")
        inputs = {
            "frequency": repeats,
            "recency": (last - first_purchase).astype(np.float64),
            "age": (cutoff - first_purchase).astype(np.float64),
            "repeat_monetary": _ratio(gross - first_day, repeats),
            "mean_monetary": columns["spend_per_purchase_day"],
        }
        if deferred_btyd:  # fitted later, per cutoff over every entity (the Spark panel)
            columns[f"{BASELINE_PREFIX}btyd"] = np.full(len(cutoff), np.nan)
            columns.update({f"{BTYD_INPUT_PREFIX}{name}": v for name, v in inputs.items()})
        else:
            columns[f"{BASELINE_PREFIX}btyd"] = btyd_expected_spend(
                cutoff.astype(np.int64), **inputs, horizon_days=horizon, seed=seed
            )
    return columns


def _target(windows: _Windows, cutoff: np.ndarray, horizon: int, end_day: int) -> np.ndarray:
    """Net spend over ``[cutoff, cutoff + horizon)``; NaN where that passes ``end_day``."""
    target: np.ndarray = windows.sum("net", 0, horizon) / _MICROS
    target[cutoff + horizon > end_day] = np.nan
    return target


def snapshot_target(
    totals: RunningTotals,
    entity: np.ndarray,
    cutoff: np.ndarray,
    settings: FeatureSettings,
    end_day: int,
) -> np.ndarray:
    """Return only the ``target`` column of :func:`snapshot_features` for these pairs."""
    return _target(_Windows(totals, entity, cutoff), cutoff, settings.horizon_days, end_day)


def snapshot_features(
    totals: RunningTotals,
    entity: np.ndarray,
    cutoff: np.ndarray,
    first_purchase: np.ndarray,
    settings: FeatureSettings,
    end_day: int,
    seed: int = 0,
    *,
    deferred_btyd: bool = False,
) -> dict[str, np.ndarray]:
    """Return the target and every feature of the given (entity, cutoff) pairs.

    Args:
        totals: running totals of the entities' history.
        entity: entity code of each pair.
        cutoff: cutoff day number of each pair.
        first_purchase: day number of each pair's entity's first purchase.
        settings: horizon, windows, detail window and trend buckets.
        end_day: the end of the data (day after the last transaction).
        seed: seed of the sample the BG/NBD fits take at very large cutoffs.
        deferred_btyd: leave ``baseline_btyd`` NaN and add the inputs of its fit as
            columns named ``_btyd_<input>`` (:data:`BTYD_INPUT_PREFIX`), for a caller that
            sees only some of the entities and fits each cutoff once over all of them.

    """
    windows = _Windows(totals, entity, cutoff)
    target = _target(windows, cutoff, settings.horizon_days, end_day)
    now = windows.at(0)
    recency = cutoff - now.total("last_purchase")
    columns: dict[str, np.ndarray] = {
        "target": target,
        "recency_days": recency.astype(np.float64),
        "tenure_days": (cutoff - first_purchase).astype(np.float64),
    }
    for window in settings.windows_days:
        columns[f"frequency_{window}d"] = windows.sum("purchase_invoices", -window) * 1.0
        columns[f"monetary_{window}d"] = windows.sum("net", -window) / _MICROS
    detail = settings.detail_window_days
    invoices = windows.sum("purchase_invoices", -detail)
    columns[f"returns_count_{detail}d"] = windows.sum("return_invoices", -detail) * 1.0
    columns[f"returns_value_{detail}d"] = windows.sum("return_value", -detail) / _MICROS
    columns[f"basket_units_{detail}d"] = _ratio(windows.sum("purchase_units", -detail), invoices)
    columns[f"basket_value_{detail}d"] = (
        _ratio(windows.sum("purchase_value", -detail), invoices) / _MICROS
    )
    columns[f"distinct_products_{detail}d"] = now.total("products") * 1.0
    columns.update(_interval_features(windows, cutoff, first_purchase))
    columns["spend_trend"] = _trend(windows, settings)
    columns.update(
        _baselines(windows, totals, entity, cutoff, first_purchase, settings, seed, deferred_btyd)
    )
    columns["country"] = now.last("country")
    return columns
