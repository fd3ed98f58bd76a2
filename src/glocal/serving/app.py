"""The HTTP API: ``create_app(workspace, settings)`` builds it; its lifespan loads the model.

Routes (OpenAPI docs at ``/docs``):

* ``POST /predict`` ``{"entity_id": str, "features": {...} | null}``: without features, the
  entity's latest snapshot (precomputed at load: ``glocal predict``'s number); with
  features, validated against the model's schema and predicted.
* ``POST /predict/batch`` ``{"items": [...]}``: up to ``serving.max_batch_items`` of those.
* ``GET /entities/{entity_id}``: the entity's model card from the registry.
* ``GET /health`` (the process is up), ``GET /ready`` (a production run is loaded),
  ``GET /metrics`` (Prometheus).

Bad input is answered 4xx with the field named (``detail[].loc``), never 500. The API key,
the body size limit and the content type are checked by a small ASGI layer before FastAPI
parses anything.
"""

from __future__ import annotations

import asyncio
import hmac
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from glocal.config import Settings, Workspace
from glocal.core.errors import FeatureError, GlocalError, RegistryLookupError
from glocal.core.logging import get_logger
from glocal.pipeline.remote import close_remote_workspace
from glocal.registry import Registry
from glocal.serving.metrics import ServingMetrics
from glocal.serving.prediction_log import PredictionLog
from glocal.serving.reloader import Reloader, StateHolder
from glocal.serving.schemas import (
    BatchRequest,
    BatchResponse,
    EntityCard,
    Health,
    PredictRequest,
    PredictResponse,
)
from glocal.serving.state import Answer, ServingState, load_serving_state, settle_heap

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/openapi.json", "/docs/oauth2-redirect"})
_log = get_logger("serving")


def _route_label(path: str) -> str:
    if path.startswith("/entities/"):
        return "/entities/{entity_id}"
    return path if path in _KNOWN_ROUTES else "other"


_KNOWN_ROUTES = frozenset(
    {"/predict", "/predict/batch", "/health", "/ready", "/metrics", "/docs", "/openapi.json"}
)


async def _reject(send: Send, status: int, message: str, field: str) -> None:
    body = (
        b'{"detail":[{"loc":["'
        + field.encode()
        + b'"],"msg":'
        + _json_string(message)
        + b',"type":"request"}]}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_string(text: str) -> bytes:
    import json

    return json.dumps(text).encode()


class Gate:
    """The ASGI layer in front of FastAPI: API key, body size, content type and metrics."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: ServingMetrics) -> None:
        self.app = app
        key = settings.serving.api_key
        self.key = key.get_secret_value().encode() if key is not None else None
        self.limit = settings.serving.max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = _route_label(scope["path"])
        status = {"code": 500}

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            problem = self._check(scope)
            if problem is None and scope["method"] == "POST":
                body = await self._read_body(receive)
                if body is None:
                    problem = (413, f"the request body is larger than {self.limit} bytes", "body")
                else:
                    receive = _replay(body, receive)
            if problem is not None:
                await _reject(counted_send, *problem)
                return
            await self.app(scope, receive, counted_send)
        finally:
            self.metrics.requests.labels(route=route, status=str(status["code"])).inc()
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - start)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """Read the whole body (``None`` once it passes the limit, whatever its headers say)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # the client left: the app sees an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = dict(scope.get("headers") or [])
        if self.key is not None and scope["path"] not in _OPEN_PATHS:
            given = headers.get(b"x-api-key", b"")
            if not hmac.compare_digest(given, self.key):
                return 401, "missing or wrong API key: send it in the X-API-Key header", "header"
        if scope["method"] == "POST":
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                return (
                    415,
                    "send the request body as JSON (Content-Type: application/json)",
                    ("header"),
                )
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                return 413, f"the request body is larger than {self.limit} bytes", "body"
        return None


def _replay(body: bytes, original: Receive) -> Receive:
    """Return a ``receive`` that hands the app the body already read, then the real one."""
    sent = {"done": False}

    async def receive() -> Message:
        if sent["done"]:
            return await original()  # e.g. the client's disconnect
        sent["done"] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _entity_card(registry: Registry, entity_id: str) -> dict[str, Any]:
    return registry.model_card(entity_id)


def create_app(workspace: Workspace, settings: Settings) -> FastAPI:
    """Build the service for ``workspace``; the model loads when the app starts."""
    metrics = ServingMetrics()
    holder = StateHolder(None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log = PredictionLog(
            workspace.predictions_dir / "online",
            settings.serving.log_queue_size,
            settings.serving.log_flush_seconds,
            on_drop=metrics.log_dropped.inc,
        )
        reloader = Reloader(workspace, settings, holder, metrics)
        registry = Registry.open(settings.registry.url, workspace)
        try:
            holder.state = load_serving_state(workspace, settings)
        except GlocalError as exc:  # serve nothing (not ready) and keep polling for a good run
            _log.error("cannot load the production run: %s", exc)
        if holder.state is not None:
            metrics.serving(holder.state.run_id, None)
            settle_heap()
        app.state.log, app.state.reloader, app.state.registry = log, reloader, registry
        log.start()
        reloader.start()
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.trigger)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            _log.debug("SIGHUP reload unavailable in this thread")
        try:
            yield
        finally:
            reloader.close()
            log.close()
            registry.close()
            if workspace.store is not None:  # uvicorn may end the process by re-raising
                close_remote_workspace(workspace, publish=True)  # SIGTERM: finish here

    app = FastAPI(
        title="glocal",
        summary="Per-entity predictions from the production run of a glocal workspace.",
        version="0.2.0",
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.metrics = metrics
    _add_routes(app, settings, holder, metrics)
    _add_error_handlers(app)
    app.add_middleware(_GateMiddleware, settings=settings, metrics=metrics)
    return app


class _GateMiddleware:
    """Adapter so that :class:`Gate` can be added with ``app.add_middleware``."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: ServingMetrics) -> None:
        self.gate = Gate(app, settings, metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.gate(scope, receive, send)


def _serve_one(
    state: ServingState, item: PredictRequest, log: PredictionLog, metrics: ServingMetrics
) -> Answer:
    if item.features is None:
        answer = state.answer_snapshot(item.entity_id)
        if answer is None:
            raise _NoSnapshotError(item.entity_id)
    else:
        answer = state.answer_features(item.entity_id, item.features)
    metrics.predictions.labels(source=answer.source).inc()
    log.append(
        (
            time.time(),
            answer.entity_id,
            answer.prediction,
            answer.source,
            answer.global_prediction,
            answer.run_id,
            answer.cutoff,
            item.features is not None,
        )
    )
    return answer


class _NoSnapshotError(Exception):
    def __init__(self, entity_id: str) -> None:
        super().__init__(entity_id)
        self.entity_id = entity_id


class _NotReadyError(Exception):
    """No production run is loaded yet."""


def _ready_state(holder: StateHolder) -> ServingState:
    state = holder.state
    if state is None:
        raise _NotReadyError
    return state


def _add_routes(
    app: FastAPI, settings: Settings, holder: StateHolder, metrics: ServingMetrics
) -> None:
    @app.post("/predict", response_model=PredictResponse, tags=["predictions"])
    async def predict(body: PredictRequest, request: Request) -> PredictResponse:
        """Predict one entity: from its latest snapshot, or from the features given."""
        state = _ready_state(holder)
        answer = _serve_one(state, body, request.app.state.log, metrics)
        return PredictResponse(**answer.to_dict())

    @app.post("/predict/batch", response_model=BatchResponse, tags=["predictions"])
    async def predict_batch(body: BatchRequest, request: Request) -> BatchResponse:
        """Predict up to ``serving.max_batch_items`` entities in one request."""
        if len(body.items) > settings.serving.max_batch_items:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "items"),
                        "msg": f"at most {settings.serving.max_batch_items} items per batch, "
                        f"got {len(body.items)}",
                        "type": "too_long",
                    }
                ]
            )
        state = _ready_state(holder)  # one state for the whole batch, even across a reload
        answers = [_serve_one(state, item, request.app.state.log, metrics) for item in body.items]
        return BatchResponse(predictions=[PredictResponse(**a.to_dict()) for a in answers])

    @app.get("/entities/{entity_id}", response_model=EntityCard, tags=["entities"])
    def entity(entity_id: str, request: Request) -> EntityCard:
        """Return the entity's model card: its decision and history in the registry."""
        card = _entity_card(request.app.state.registry, entity_id)
        return EntityCard(**card)

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health() -> Health:
        """Say that the process is up (no API key needed)."""
        state = holder.state
        return Health(status="ok", run_id=state.run_id if state is not None else None)

    @app.get("/ready", response_model=Health, tags=["operations"])
    async def ready() -> Health:
        """Say whether a production run is loaded and answering (503 until then)."""
        state = _ready_state(holder)
        return Health(status="ready", run_id=state.run_id)

    @app.get("/metrics", tags=["operations"])
    async def prometheus() -> Response:
        """Prometheus counters and histograms."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FeatureError)
    async def bad_features(request: Request, exc: FeatureError) -> JSONResponse:
        detail = [
            {"loc": ["body", "features", name], "msg": problem, "type": "feature"}
            for name, problem in exc.problems.items()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(_NoSnapshotError)
    async def no_snapshot(request: Request, exc: _NoSnapshotError) -> JSONResponse:
        message = (
            f"entity {exc.entity_id!r} has no snapshot in the latest panel; send its "
            "features to get a prediction"
        )
        detail = [{"loc": ["body", "entity_id"], "msg": message, "type": "not_found"}]
        return JSONResponse({"detail": detail}, status_code=404)

    @app.exception_handler(_NotReadyError)
    async def not_ready(request: Request, exc: _NotReadyError) -> JSONResponse:
        message = "no production run is loaded yet: run `glocal run`, the service follows it"
        return JSONResponse({"detail": [{"loc": [], "msg": message, "type": "not_ready"}]}, 503)

    @app.exception_handler(RegistryLookupError)
    async def unknown(request: Request, exc: RegistryLookupError) -> JSONResponse:
        detail = [{"loc": ["path", "entity_id"], "msg": str(exc), "type": "not_found"}]
        return JSONResponse({"detail": detail}, status_code=404)
