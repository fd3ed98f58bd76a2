"""Drift and data checks, and the alerts they raise against the monitoring thresholds."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from glocal.config.monitoring import MonitoringSettings
from glocal.core.logging import get_logger
from glocal.features import population_stability

_log = get_logger(__name__)

__all__ = ["Alert", "data_alerts", "drift_report", "error_alerts"]


@dataclass(frozen=True)
class Alert:
    """One threshold crossed: what, how much, against what, and what to do."""

    name: str
    value: float
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the alert as a JSON-ready dict."""
        return asdict(self)


def drift_report(
    baseline: dict[str, Any] | None,
    snapshot: pd.DataFrame,
    realized: pd.DataFrame,
    settings: MonitoringSettings,
) -> tuple[dict[str, Any], list[Alert]]:
    """PSI of every feature (latest snapshot) and of the target (latest realized cutoff).

    Returns the report and an alert per feature (``feature_drift``; not for those in
    ``monitoring.drift_alert_exclude``) or target (``target_drift``) above
    ``monitoring.psi_alert``. A bundle without a baseline (written
    before baselines existed) gives an empty report and no alert.
    """
    if baseline is None:
        return {"available": False, "features": {}, "target": None}, []
    features = {k: v for k, v in baseline["columns"].items() if k != "target"}
    psi = population_stability({"columns": features}, snapshot)
    # the default names features a generic panel may not have; only the user's names warn
    default = set(MonitoringSettings().drift_alert_exclude)
    unknown = sorted(set(settings.drift_alert_exclude) - set(features) - default)
    if unknown:
        _log.warning(
            "monitoring.drift_alert_exclude names %s, not features of the production model "
            "(its features: %s); fix the names or remove them",
            ", ".join(unknown),
            ", ".join(sorted(features)),
        )
    target_psi = None
    if len(realized) and "target" in baseline["columns"]:
        latest = realized.loc[realized["cutoff"] == realized["cutoff"].max()]
        target_psi = population_stability(
            {"columns": {"target": baseline["columns"]["target"]}}, latest
        ).get("target")
    alerts = [
        Alert(
            "feature_drift",
            value,
            settings.psi_alert,
            f"feature {name!r}: PSI {value:.3f} against the training baseline "
            f"(> {settings.psi_alert}); check the data feed, or retrain with "
            "`glocal run --retrain-global`.",
        )
        for name, value in sorted(psi.items(), key=lambda item: -item[1])
        if value > settings.psi_alert and name not in settings.drift_alert_exclude
    ]
    if target_psi is not None and target_psi > settings.psi_alert:
        alerts.append(
            Alert(
                "target_drift",
                target_psi,
                settings.psi_alert,
                f"target: PSI {target_psi:.3f} of the latest realized targets against "
                f"training (> {settings.psi_alert}); retrain the global model.",
            )
        )
    missing = sorted(set(features) - set(snapshot.columns))
    report = {
        "available": True,
        "baseline_cutoffs": baseline.get("cutoffs", []),
        "features": psi,
        "target": target_psi,
        "missing_features": missing,
    }
    return report, alerts


def data_alerts(checks: dict[str, Any], settings: MonitoringSettings) -> list[Alert]:
    """Alerts for unknown entities and for late data, from the computed data checks."""
    alerts = []
    for key, where in (
        ("unknown_share_snapshot", "the latest snapshot"),
        ("unknown_share_online", "the online requests"),
    ):
        share = checks.get(key)
        if share is not None and share > settings.unknown_share_alert:
            alerts.append(
                Alert(
                    "unknown_entities",
                    float(share),
                    settings.unknown_share_alert,
                    f"{share:.1%} of {where} are entities the production run does not know "
                    f"(> {settings.unknown_share_alert:.0%}); run `glocal run` on the new data.",
                )
            )
    age = checks["data_age_days"]
    if age > settings.max_data_age_days:
        alerts.append(
            Alert(
                "data_late",
                float(age),
                float(settings.max_data_age_days),
                f"the newest transaction is {age} days before the monitoring date "
                f"{checks['monitor_date']} (> {settings.max_data_age_days}); data is late or "
                "not arriving: check the feed, then ingest with `glocal run --data FILE`.",
            )
        )
    return alerts


def error_alerts(
    series: pd.DataFrame,
    window_start: pd.Timestamp | None,
    settings: MonitoringSettings,
    objective: str,
) -> list[Alert]:
    """Alert when the served loss over the window exceeds the shadow global loss."""
    if window_start is None:
        return []
    window = series.loc[series["cutoff"] >= window_start]
    weights = window["rows"].to_numpy(dtype=np.float64)
    served = float(np.average(window[f"{objective}_served"], weights=weights))
    global_ = float(np.average(window[f"{objective}_global"], weights=weights))
    if global_ <= 0 or served <= global_ * (1 + settings.served_worse_tolerance):
        return []
    ratio = served / global_
    return [
        Alert(
            "served_worse_than_global",
            ratio,
            1 + settings.served_worse_tolerance,
            f"over the window the served predictions' {objective.upper()} is {ratio:.3f} x the "
            "shadow global predictions'; the demotions above send the worst entities back "
            "to global at the next `glocal run`.",
        )
    ]


def data_age(monitor_date: dt.date, data_end: dt.date) -> int:
    """Return whole days between the day after the newest transaction and ``monitor_date``."""
    return max(0, (monitor_date - data_end).days)
