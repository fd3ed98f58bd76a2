"""The HTTP API against a real uvicorn server: answers, bad input, keys, logs, metrics."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr

from glocal.config import Workspace
from glocal.features import read_current_panel, read_panel
from glocal.pipeline import predict_batch
from glocal.pipeline.predict import load_production
from glocal.serving.prediction_log import LOG_COLUMNS, PredictionLog
from tests.serving.conftest import LiveServer


def _snapshot(workspace: Workspace) -> pd.DataFrame:
    return read_panel(read_current_panel(workspace).files.latest)


def _features(row: pd.Series, columns: list[str]) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for name in columns:
        value = row[name]
        if isinstance(value, str):
            features[name] = value
        else:
            number = float(value)
            features[name] = None if math.isnan(number) else number
    return features


def test_health_ready_and_metrics(live: LiveServer) -> None:
    with live.client() as client:
        assert client.get("/health").json()["status"] == "ok"
        ready = client.get("/ready").json()
        assert ready["status"] == "ready" and ready["run_id"]
        client.post("/predict", json={"entity_id": "nobody"})
        text = client.get("/metrics").text
    assert 'glocal_requests_total{route="/predict",status="404"} 1.0' in text
    assert "glocal_request_seconds_bucket" in text
    assert f'glocal_serving_run{{run_id="{ready["run_id"]}"}} 1.0' in text


def test_id_only_answers_equal_glocal_predict(live: LiveServer, workspace: Workspace) -> None:
    batch = predict_batch(workspace, workspace.settings()).frame.set_index("entity_id")
    ids = list(batch.index[:40])
    with live.client() as client:
        answers = client.post("/predict/batch", json={"items": [{"entity_id": e} for e in ids]})
        single = client.post("/predict", json={"entity_id": ids[0]}).json()
    assert answers.status_code == 200, answers.text
    for answer in answers.json()["predictions"]:
        expected = batch.loc[answer["entity_id"]]
        assert answer["prediction"] == expected["prediction"]  # bit for bit
        assert answer["global_prediction"] == expected["global_prediction"]
        assert answer["run_id"] == expected["run_id"]
        assert answer["cutoff"] == pd.Timestamp(expected["cutoff"]).strftime("%Y-%m-%d")
        assert answer["source"] in (expected["source"], "global_unknown_entity")
    assert single == answers.json()["predictions"][0]


def test_features_are_predicted_like_the_model(live: LiveServer, workspace: Workspace) -> None:
    production = load_production(workspace, workspace.settings())
    assert production is not None
    model = production.model
    snapshot = _snapshot(workspace).iloc[:25]
    expected = model.predict(snapshot)
    with live.client() as client:
        for position in range(len(snapshot)):
            row = snapshot.iloc[position]
            body = {
                "entity_id": str(row["entity_id"]),
                "features": _features(row, model.feature_columns_),
            }
            answer = client.post("/predict", json=body).json()
            assert answer["prediction"] == pytest.approx(
                float(expected["prediction"].iloc[position]), rel=1e-12
            )
            assert answer["cutoff"] is None


def test_unknown_entities(live: LiveServer, workspace: Workspace) -> None:
    production = load_production(workspace, workspace.settings())
    assert production is not None
    row = _snapshot(workspace).iloc[0]
    features = _features(row, production.model.feature_columns_)
    with live.client() as client:
        known = client.post(
            "/predict", json={"entity_id": str(row["entity_id"]), "features": features}
        )
        answer = client.post("/predict", json={"entity_id": "new-customer", "features": features})
        missing = client.post("/predict", json={"entity_id": "new-customer"})
    assert answer.status_code == 200
    assert answer.json()["source"] == "global_unknown_entity"
    assert answer.json()["prediction"] == answer.json()["global_prediction"]
    assert answer.json()["global_prediction"] == known.json()["global_prediction"]
    assert missing.status_code == 404
    assert missing.json()["detail"][0]["loc"] == ["body", "entity_id"]


def _raw(body: dict[str, Any], field: str, literal: str) -> bytes:
    """JSON text of ``body`` with one feature set to a non-standard literal (NaN, Infinity)."""
    marked = {**body, "features": {**body["features"], field: "@@"}}
    return json.dumps(marked).replace('"@@"', literal).encode()


def _bad_requests(features: dict[str, Any]) -> dict[str, tuple[dict[str, Any], int, str]]:
    """Each bad request: httpx arguments, the expected status and the field it must name."""
    first = next(iter(features))
    numeric = next(name for name, value in features.items() if isinstance(value, float))
    body = {"entity_id": "x", "features": features}
    without = {k: v for k, v in features.items() if k != first}
    return {
        "missing feature": ({"json": {**body, "features": without}}, 422, first),
        "extra feature": (
            {"json": {**body, "features": {**features, "colour": 1.0}}},
            422,
            "colour",
        ),
        "mistyped feature": (
            {"json": {**body, "features": {**features, numeric: "ten"}}},
            422,
            numeric,
        ),
        "NaN": ({"content": _raw(body, numeric, "NaN")}, 422, numeric),
        "infinite": ({"content": _raw(body, numeric, "-Infinity")}, 422, numeric),
        "empty body": ({"content": b""}, 422, "body"),
        "invalid JSON": ({"content": b'{"entity_id": '}, 422, "body"),
        "extra field": ({"json": {"entity_id": "x", "colour": "red"}}, 422, "colour"),
        "mistyped id": ({"json": {"entity_id": 12}}, 422, "entity_id"),
        "empty id": ({"json": {"entity_id": ""}}, 422, "entity_id"),
    }


@pytest.fixture
def good_features(workspace: Workspace) -> dict[str, Any]:
    production = load_production(workspace, workspace.settings())
    assert production is not None
    return _features(_snapshot(workspace).iloc[0], production.model.feature_columns_)


@pytest.mark.parametrize(
    "case",
    [
        "missing feature",
        "extra feature",
        "mistyped feature",
        "NaN",
        "infinite",
        "empty body",
        "invalid JSON",
        "extra field",
        "mistyped id",
        "empty id",
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    case: str, live: LiveServer, good_features: dict[str, Any]
) -> None:
    arguments, status, field = _bad_requests(good_features)[case]
    headers = {"content-type": "application/json"}
    with live.client() as client:
        response = client.post("/predict", headers=headers, **arguments)
    assert response.status_code == status, response.text
    assert any(field in problem["loc"] for problem in response.json()["detail"]), response.text
    assert "Traceback" not in response.text


def test_every_bad_feature_is_named_once_and_briefly(
    live: LiveServer, good_features: dict[str, Any]
) -> None:
    with live.client() as client:
        response = client.post("/predict", json={"entity_id": "x", "features": {"colour": 1}})
    assert response.status_code == 422
    named = [problem["loc"][-1] for problem in response.json()["detail"]]
    assert sorted(named) == sorted([*good_features, "colour"])
    assert len(response.content) < 200 * len(named)  # one short message per field


def test_wrong_content_type_oversize_bodies_and_batches(live: LiveServer) -> None:
    with live.client() as client:
        wrong = client.post(
            "/predict", content=b'{"entity_id": "x"}', headers={"content-type": "text/plain"}
        )
        huge = client.post("/predict", json={"entity_id": "x" * 2_000_000})

        def stream() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            yield b'{"entity_id": "'
            for _ in range(2_000):
                yield b"x" * 1_000
            yield b'"}'

        streamed = client.post(
            "/predict", content=stream(), headers={"content-type": "application/json"}
        )
        items = [{"entity_id": "x"}] * 1_001
        batch = client.post("/predict/batch", json={"items": items})
        empty_batch = client.post("/predict/batch", json={"items": []})
    assert wrong.status_code == 415 and "application/json" in wrong.text
    assert huge.status_code == 413 and streamed.status_code == 413
    assert batch.status_code == 422 and "at most 1000 items" in batch.text
    assert "items" in batch.text
    assert empty_batch.status_code == 422 and "items" in empty_batch.text


def test_api_key(workspace: Workspace) -> None:
    settings = workspace.settings()
    settings.serving.api_key = SecretStr("s3cret")
    with LiveServer(workspace, settings) as server, server.client() as client:
        assert client.get("/health").status_code == 200  # stays open
        missing = client.post("/predict", json={"entity_id": "x"})
        wrong = client.post("/predict", json={"entity_id": "x"}, headers={"x-api-key": "s3cre"})
        right = client.get("/metrics", headers={"x-api-key": "s3cret"})
    assert missing.status_code == 401 and "X-API-Key" in missing.text
    assert wrong.status_code == 401
    assert right.status_code == 200


def test_model_card(live: LiveServer, workspace: Workspace) -> None:
    entity = str(_snapshot(workspace)["entity_id"].iloc[0])
    with live.client() as client:
        card = client.get(f"/entities/{entity}")
        unknown = client.get("/entities/..%2F..%2Fetc")
    assert card.status_code == 200
    body = card.json()
    assert body["entity_id"] == entity and body["current"]["decision"] in (
        "global",
        "local",
        "blend",
    )
    assert unknown.status_code == 404


def test_openapi_documents_every_route(live: LiveServer) -> None:
    with live.client() as client:
        paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/predict",
        "/predict/batch",
        "/entities/{entity_id}",
        "/health",
        "/ready",
        "/metrics",
    } <= paths


def test_served_predictions_are_logged_and_flushed_on_shutdown(workspace: Workspace) -> None:
    settings = workspace.settings()
    settings.serving.log_flush_seconds = 3600.0  # nothing is written before the shutdown
    entity = str(_snapshot(workspace)["entity_id"].iloc[0])
    with LiveServer(workspace, settings) as server, server.client() as client:
        for _ in range(5):
            assert client.post("/predict", json={"entity_id": entity}).status_code == 200
    parts = sorted((workspace.predictions_dir / "online").rglob("*.parquet"))
    assert parts, "the log was not flushed on shutdown"
    logged = pd.concat([pd.read_parquet(p) for p in parts])
    assert list(logged.columns) == list(LOG_COLUMNS)
    assert len(logged) == 5 and set(logged["entity_id"]) == {entity}
    age = pd.Timestamp.now(tz="UTC") - logged["served_at"]
    assert ((age >= pd.Timedelta(0)) & (age < pd.Timedelta(minutes=5))).all()
    assert not logged["with_features"].any()


def test_a_full_log_queue_drops_and_counts(tmp_path: Path) -> None:
    dropped = []
    log = PredictionLog(tmp_path, capacity=2, flush_seconds=60, on_drop=lambda: dropped.append(1))
    for i in range(5):
        log.append((time.time(), str(i), 1.0, "global", 1.0, "r", None, False))
    assert log.dropped == 3 and len(dropped) == 3
    log.start()
    log.close()
    written = pd.concat([pd.read_parquet(p) for p in tmp_path.rglob("*.parquet")])
    assert written["entity_id"].tolist() == ["0", "1"]


def test_schemathesis_finds_no_server_error(live: LiveServer, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{live.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "-n",
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # schemathesis keeps its state in the working directory
    )
    assert done.returncode == 0, done.stdout[-4000:]


def test_requests_with_features_match_the_snapshot_answers(
    live: LiveServer, workspace: Workspace
) -> None:
    production = load_production(workspace, workspace.settings())
    assert production is not None
    snapshot = _snapshot(workspace).iloc[:10]
    with live.client() as client:
        for position in range(len(snapshot)):
            row = snapshot.iloc[position]
            entity = str(row["entity_id"])
            by_id = client.post("/predict", json={"entity_id": entity}).json()
            body = {
                "entity_id": entity,
                "features": _features(row, production.model.feature_columns_),
            }
            by_features = client.post("/predict", json=body).json()
            assert np.isclose(by_id["prediction"], by_features["prediction"], rtol=1e-12, atol=0)
