"""What a ``glocal run`` did, and the rich tables it ends with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

__all__ = ["RunSummary", "StepRecord", "render_summary"]


@dataclass(frozen=True)
class StepRecord:
    """One pipeline step: whether it ran or was skipped, how long it took, and a note."""

    name: str
    status: str
    seconds: float
    detail: str = ""


@dataclass
class RunSummary:
    """The outcome of :func:`glocal.pipeline.run_pipeline`.

    Attributes:
        run_id: The new run, or ``None`` when training was skipped.
        production_run_id: The run ``production`` points to at the end.
        data_version: The data version the run worked on.
        mode: ``full``, ``refresh``, ``incremental`` or ``skip``.
        reason: Why that mode.
        counts: Entities retrained, carried forward, newly seen, removed, switched.
        validation: Validation metrics of the production layout (new runs only).
        predictions: The daily prediction file (its store URL with ``storage.url``).
        steps: Every step, in order.
        tracked: The MLflow model version the run was registered as
            (``models:/<name>/<version>``), when ``tracking.mlflow_uri`` is set.

    """

    run_id: str | None = None
    production_run_id: str | None = None
    data_version: str = ""
    mode: str = "skip"
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    predictions: Path | str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    tracked: str | None = None

    @property
    def total_seconds(self) -> float:
        """Wall time of all steps."""
        return sum(step.seconds for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form (recorded as the run's summary in the registry)."""
        return {
            "run_id": self.run_id,
            "production_run_id": self.production_run_id,
            "data_version": self.data_version,
            "mode": self.mode,
            "reason": self.reason,
            "counts": dict(self.counts),
            "validation": dict(self.validation),
            "predictions": str(self.predictions) if self.predictions else None,
            "tracked": self.tracked,
            "steps": [
                {"name": s.name, "status": s.status, "seconds": round(s.seconds, 3)}
                for s in self.steps
            ],
        }


def render_summary(summary: RunSummary) -> list[Table]:
    """Return the entity table and the step table of a run."""
    entities = Table(title=f"glocal run: {summary.mode} ({summary.reason})", show_header=False)
    entities.add_column("field", style="bold")
    entities.add_column("value", justify="right")
    entities.add_row("run", summary.run_id or "none (training skipped)")
    entities.add_row("production", summary.production_run_id or "-")
    entities.add_row("data version", summary.data_version)
    labels = {
        "retrained": "entities retrained",
        "carried_forward": "entities carried forward",
        "newly_seen": "entities newly seen",
        "switched": "entities that switched decision",
        "removed": "entities removed",
    }
    for key, label in labels.items():
        entities.add_row(label, f"{summary.counts.get(key, 0):,}")
    if summary.validation:
        val = summary.validation
        entities.add_row("validation MSE global", f"{val['global_mse']:,.2f}")
        entities.add_row(
            "validation MSE hybrid",
            f"{val['hybrid_mse']:,.2f} ({100 * val['hybrid_vs_global']:+.2f}%)",
        )
    if summary.predictions is not None:
        entities.add_row("predictions", str(summary.predictions))
    if summary.tracked is not None:
        entities.add_row("MLflow model", summary.tracked)

    steps = Table(title=f"Steps ({summary.total_seconds:.1f} s)")
    for column in ("step", "status", "seconds", "detail"):
        steps.add_column(column, justify="right" if column == "seconds" else "left")
    for step in summary.steps:
        steps.add_row(step.name, step.status, f"{step.seconds:.2f}", step.detail)
    return [entities, steps]
