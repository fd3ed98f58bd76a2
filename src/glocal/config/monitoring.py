"""Settings of ``glocal monitor``: the rolling window, the demotion test and alert thresholds."""

from __future__ import annotations

from pydantic import Field

from glocal.config.base import Section

__all__ = ["MonitoringSettings"]


class MonitoringSettings(Section):
    """How live error is judged, when an entity is demoted, and when an alert fires."""

    window_days: int = Field(
        default=91,
        ge=7,
        description=(
            "Per-entity errors are computed over predictions whose cutoff lies within this "
            "many days of the latest cutoff with realized actuals."
        ),
    )
    demotion_min_periods: int = Field(
        default=2,
        ge=1,
        description="Realized predictions an entity needs in the window before it can be demoted.",
    )
    demotion_significance: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "One-sided test level: an entity served by its local model (or a blend) is "
            "demoted when its served loss exceeds the shadow global loss at this level."
        ),
    )
    demotion_pooling: bool = Field(
        default=True,
        description=(
            "Besides each entity's own t-test, judge demotions against the population "
            "(empirical Bayes): also demote the largest set whose expected share of local "
            "models that did not lose is at most demotion_significance. Needs 50 tested "
            "entities; false: the per-entity t-test only."
        ),
    )
    demotion_days: int = Field(
        default=91,
        ge=1,
        description="A demoted entity is kept on the global model by every run for this long.",
    )
    psi_alert: float = Field(
        default=0.25,
        gt=0,
        description="Alert when a feature's or the target's PSI against training exceeds this.",
    )
    drift_alert_exclude: list[str] = Field(
        default_factory=lambda: ["tenure_days"],
        description=(
            "Features whose PSI is reported but never alerts. tenure_days grows with the "
            "calendar for every customer, so against a baseline from older cutoffs it "
            "drifts by construction; [] alerts on every feature."
        ),
    )
    unknown_share_alert: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description=(
            "Alert when more than this share of the latest snapshot's entities (or of the "
            "online requests) are unknown to the production run."
        ),
    )
    max_data_age_days: int = Field(
        default=3,
        ge=0,
        description=(
            "Alert when the newest transaction is more than this many days older than the "
            "monitoring date (data late or not arriving)."
        ),
    )
    served_worse_tolerance: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Alert when the served predictions' loss over the window exceeds the shadow "
            "global predictions' loss by more than this fraction."
        ),
    )
