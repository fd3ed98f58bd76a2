"""Prometheus metrics of the service, in a registry of its own (never the global one)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["ServingMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class ServingMetrics:
    """Counters and histograms per route and per prediction source."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "glocal_requests",
            "HTTP requests, by route template and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "glocal_request_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "glocal_predictions",
            "Served predictions, by source (global, local, blend, global_unknown_entity).",
            ["source"],
            registry=self.registry,
        )
        self.log_dropped = Counter(
            "glocal_prediction_log_dropped",
            "Predictions not logged because the log queue was full.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "glocal_reloads",
            "Attempts to load a new production run, by outcome (loaded, refused).",
            ["outcome"],
            registry=self.registry,
        )
        self.run = Gauge(
            "glocal_serving_run",
            "1 for the run being served.",
            ["run_id"],
            registry=self.registry,
        )

    def serving(self, run_id: str | None, previous: str | None) -> None:
        """Record which run is served."""
        if previous is not None:
            self.run.remove(previous)
        if run_id is not None:
            self.run.labels(run_id=run_id).set(1)

    def render(self) -> bytes:
        """Return the text exposition format."""
        return generate_latest(self.registry)
