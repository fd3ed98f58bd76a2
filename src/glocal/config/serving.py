"""Settings of the real-time prediction service (``glocal serve``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from glocal.config.base import Section

__all__ = ["ServingSettings"]


class ServingSettings(Section):
    """Where the service listens, what it accepts, and how it reloads and logs."""

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    workers: int = Field(default=1, ge=1, description="Worker processes.")
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "If set, every request but /health and /ready must carry it in X-API-Key "
            "(compared in constant time). Set it with GLOCAL_SERVING__API_KEY rather than in "
            "the file."
        ),
    )
    max_batch_items: int = Field(
        default=1000, ge=1, description="Most items one POST /predict/batch may carry."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted, in bytes."
    )
    reload_poll_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How often to check whether the registry's production alias moved (and load "
            "the new run); 0 checks only on SIGHUP."
        ),
    )
    log_queue_size: int = Field(
        default=100_000,
        ge=1,
        description=(
            "Served predictions waiting to be written to predictions/online/; when full, new "
            "ones are dropped and counted in /metrics, never blocking a request."
        ),
    )
    log_flush_seconds: float = Field(
        default=5.0, gt=0, description="Write the waiting predictions at least this often."
    )
