"""Realized error of the served and of the shadow global predictions, per entity and over time.

A prediction made at cutoff ``c`` is *realized* once the panel built from newer data knows
the target at ``c`` (its horizon has passed). The window is the ``window_days`` of cutoffs
up to the latest realized one. Everything is computed with group-bys over all entities at
once; nothing loops over entities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from glocal.config.models import Objective
from glocal.models.losses import row_loss

__all__ = ["BASELINES", "LiveErrors", "error_line", "error_summary", "live_errors"]

_LOCAL_SOURCES = ("local", "blend")
BASELINES = {"naive": "baseline_naive", "btyd": "baseline_btyd"}
"""The simple forecasts every realized error is set beside (panel columns, when present)."""


@dataclass(frozen=True)
class LiveErrors:
    """Realized rows, per-entity errors and the per-cutoff series of one window.

    Attributes:
        rows: One row per realized (entity, cutoff): the served columns, ``target``,
            ``served_loss`` and ``global_loss``, and the squared and absolute errors of
            the served, the global and the baseline forecasts (:data:`BASELINES`).
        entities: One row per entity with a realized prediction in the window.
        series: One row per realized cutoff (all of them, not only the window).
        window_start: First cutoff of the window (``None``: nothing realized yet).
        window_end: Latest realized cutoff.

    """

    rows: pd.DataFrame
    entities: pd.DataFrame
    series: pd.DataFrame
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp | None


def _realized(served: pd.DataFrame, actuals: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    baselines = {name: c for name, c in BASELINES.items() if c in actuals.columns}
    columns = ["entity_id", "cutoff", "target", *baselines.values()]
    known = actuals.loc[actuals["target"].notna(), columns].copy()
    known["entity_id"] = known["entity_id"].astype(str)
    known["cutoff"] = known["cutoff"].astype("datetime64[us]")
    rows = served.merge(known, on=["entity_id", "cutoff"], how="inner", validate="one_to_one")
    target = rows["target"].to_numpy(dtype=np.float64)
    rows["served_loss"] = row_loss(target, rows["prediction"].to_numpy(np.float64), objective)
    rows["global_loss"] = row_loss(
        target, rows["global_prediction"].to_numpy(np.float64), objective
    )
    forecasts = {"served": "prediction", "global": "global_prediction", **baselines}
    for name, column in forecasts.items():
        rows[f"{name}_sq"] = (target - rows[column].to_numpy(np.float64)) ** 2
        rows[f"{name}_abs"] = np.sqrt(rows[f"{name}_sq"])
    rows["is_local"] = rows["source"].isin(_LOCAL_SOURCES)
    rows["local_won"] = rows["is_local"] & (rows["served_loss"] < rows["global_loss"])
    return rows


def _errors(rows: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Named aggregations ``mse_<forecast>`` and ``mae_<forecast>`` of every forecast held."""
    names = ["served", "global", *(n for n in BASELINES if f"{n}_sq" in rows.columns)]
    errors = {f"mse_{n}": (f"{n}_sq", "mean") for n in names}
    errors.update({f"mae_{n}": (f"{n}_abs", "mean") for n in names})
    return errors


def error_summary(rows: pd.DataFrame) -> dict[str, float]:
    """Return ``mse_<forecast>`` and ``mae_<forecast>`` over realized rows, every forecast."""
    return {name: float(rows[column].mean()) for name, (column, _) in _errors(rows).items()}


def error_line(errors: Mapping[Any, Any], objective: str) -> str:
    """Return e.g. ``served 1.00, shadow global 1.10, naive 1.30, btyd 1.20`` (those held).

    Examples:
        >>> error_line({"mse_served": 1.0, "mse_global": 1.1, "mse_naive": float("nan")}, "mse")
        'served 1.00, shadow global 1.10'

    """
    labels = {"served": "served", "global": "shadow global", **{n: n for n in BASELINES}}
    parts = []
    for name, label in labels.items():
        value = errors.get(f"{objective}_{name}")
        if value is not None and np.isfinite(value):
            parts.append(f"{label} {value:,.2f}")
    return ", ".join(parts)


def _series(rows: pd.DataFrame) -> pd.DataFrame:
    grouped = rows.groupby("cutoff", sort=True)
    series = grouped.agg(
        rows=("entity_id", "size"),
        **_errors(rows),
        local_rows=("is_local", "sum"),
        local_wins=("local_won", "sum"),
    ).reset_index()
    local = series["local_rows"].to_numpy(dtype=np.float64)
    series["local_win_rate"] = np.where(
        local > 0, series["local_wins"] / np.maximum(local, 1), np.nan
    )
    return series.drop(columns="local_wins")


def _entities(window: pd.DataFrame) -> pd.DataFrame:
    ordered = window.sort_values(["entity_id", "cutoff"], kind="stable")
    grouped = ordered.groupby("entity_id", sort=True)
    entities = grouped.agg(
        periods=("cutoff", "size"),
        first_cutoff=("cutoff", "min"),
        latest_cutoff=("cutoff", "max"),
        source=("source", "last"),
        run_id=("run_id", "last"),
        served_loss=("served_loss", "mean"),
        global_loss=("global_loss", "mean"),
        **_errors(window),
        local_periods=("is_local", "sum"),
    ).reset_index()
    # the demotion evidence: served minus global loss on the rows a local model served
    local = ordered.loc[ordered["is_local"]]
    difference = local["served_loss"] - local["global_loss"]
    moments = difference.groupby(local["entity_id"], sort=True).agg(["mean", "var"])
    moments = moments.reindex(entities["entity_id"])
    entities["loss_difference"] = moments["mean"].to_numpy()
    entities["difference_variance"] = moments["var"].to_numpy()
    # the squared-error evidence in the local correction's own terms (see demotion.py):
    # delta = served - global (known when served), residual = target - global
    delta = local["prediction"] - local["global_prediction"]
    residual = local["target"] - local["global_prediction"]
    products = pd.DataFrame(
        {
            "correction_sq": delta * delta,
            "correction_residual": delta * residual,
            "residual_sq": residual * residual,
        }
    )
    sums = products.groupby(local["entity_id"], sort=True).sum()
    sums = sums.reindex(entities["entity_id"])
    for column in sums.columns:
        entities[column] = sums[column].to_numpy(dtype=np.float64)
    return entities


def live_errors(
    served: pd.DataFrame, actuals: pd.DataFrame, objective: Objective, window_days: int
) -> LiveErrors:
    """Join the served predictions with realized targets and summarise them.

    Args:
        served: :data:`~glocal.monitoring.served.SERVED_COLUMNS`, one row per (entity, cutoff).
        actuals: Panel rows (``entity_id``, ``cutoff``, ``target``); NaN targets are not
            realized yet.
        objective: The loss the per-entity comparison uses (``mse`` or ``mae``).
        window_days: Length of the per-entity window, ending at the latest realized cutoff.

    """
    rows = _realized(served, actuals, objective)
    if rows.empty:
        empty = _entities(rows)
        return LiveErrors(rows, empty, _series(rows), None, None)
    end = pd.Timestamp(rows["cutoff"].max())
    start = end - pd.Timedelta(days=window_days - 1)
    window = rows.loc[rows["cutoff"] >= start]
    start = pd.Timestamp(window["cutoff"].min())  # the first realized cutoff it holds
    return LiveErrors(rows, _entities(window), _series(rows), start, end)
