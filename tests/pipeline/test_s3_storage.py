"""A workspace kept on a real S3-compatible server (moto, server mode) with a PostgreSQL
registry: run, predict, serve, a kill -9 mid-upload, and the run lock in the database."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.core.storage import STAGING_PREFIX, ObjectStore
from glocal.pipeline import run_pipeline
from glocal.registry import Registry
from tests.conftest import REPO_ROOT, _free_port
from tests.pipeline.conftest import append_orders, write_demo
from tests.pipeline.test_crash import _kill, _wait_for_pause
from tests.pipeline.test_remote import files_of, remote_settings, run_refused_while_locked

pytestmark = [pytest.mark.s3, pytest.mark.postgres]

S3 = tuple[Path, ObjectStore, str]


@pytest.fixture
def on_s3(tmp_path: Path, s3_bucket: str, s3_endpoint: str, postgres_url: str) -> S3:
    """A workspace holding only its settings: files on S3, the registry in PostgreSQL."""
    url = f"s3://{s3_bucket}/shop"
    extra = f"  endpoint_url: {s3_endpoint}\n"
    root = remote_settings(tmp_path / "ws", url, f"'{postgres_url}'", extra)
    return root, ObjectStore(url, endpoint_url=s3_endpoint), postgres_url


def _finished_bundles(store: ObjectStore) -> set[str]:
    keys = store.list_files("models/bundles")
    return {key.split("/")[2] for key in keys if key.endswith("/manifest.json")}


def _production(postgres_url: str, tmp_path: Path) -> str | None:
    with Registry.open(postgres_url, Workspace(tmp_path / "unused")) as registry:
        return registry.alias("production")


def _batch_predictions(store: ObjectStore, tmp_path: Path) -> pd.DataFrame:
    key = max(k for k in store.list_files("predictions/batch"))
    store.download(key, tmp_path / "batch.parquet")
    return pd.read_parquet(tmp_path / "batch.parquet")


def test_a_bundle_on_s3_predicts_as_on_the_local_file_system(on_s3: S3, tmp_path: Path) -> None:
    root, store, postgres_url = on_s3
    data = write_demo(tmp_path / "day1.parquet")
    store.publish_file(data, "incoming/day1.parquet")  # the day's file arrives in S3
    assert main(["run", "-w", str(root), "--data", f"{store.url}/incoming/day1.parquet"]) == 0
    assert main(["predict", "-w", str(root)]) == 0
    assert files_of(root) == ["config/settings.yaml"]
    production = _production(postgres_url, tmp_path)
    assert _finished_bundles(store) == {production}
    with Registry.open(postgres_url, Workspace(tmp_path / "unused")) as registry:
        assert registry.run(str(production)).bundle_path.startswith(f"{store.url}/models/")
    (record,) = store.list_files("data/versions")
    assert (
        json.loads(store.read_bytes(record))["source_path"] == f"{store.url}/incoming/day1.parquet"
    )

    local = Workspace(tmp_path / "local")
    local.init()
    summary = run_pipeline(local, local.settings(), data=data)
    assert summary.predictions is not None
    expected = pd.read_parquet(summary.predictions).drop(columns="run_id")
    actual = _batch_predictions(store, tmp_path)
    assert set(actual["run_id"]) == {production}
    pd.testing.assert_frame_equal(actual.drop(columns="run_id"), expected)


def _paused_run(root: Path, data: Path) -> subprocess.Popen[str]:
    command = ["run", "-w", str(root), "--data", str(data), "--retrain-global"]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pipeline.paused_upload", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )


def test_kill_9_during_the_upload_leaves_production_unchanged(on_s3: S3, tmp_path: Path) -> None:
    root, store, postgres_url = on_s3
    day1 = write_demo(tmp_path / "day1.parquet")
    assert main(["run", "-w", str(root), "--data", str(day1)]) == 0
    first = _production(postgres_url, tmp_path)
    before = _batch_predictions_after_predict(root, store, tmp_path)

    day2 = append_orders(day1, tmp_path / "day2.parquet", [14354, 14677, 12591])
    process = _paused_run(root, day2)
    _wait_for_pause(process)
    _kill(process)

    assert _production(postgres_url, tmp_path) == first
    assert _finished_bundles(store) == {first}
    staged = store.fs.find(store.path_of(STAGING_PREFIX))
    assert any(path.endswith("/hybrid.json") for path in staged)  # the killed upload
    after = _batch_predictions_after_predict(root, store, tmp_path)
    pd.testing.assert_frame_equal(after, before)

    # the kill released the lock in PostgreSQL: the next run goes through and promotes
    assert main(["run", "-w", str(root), "--data", str(day2)]) == 0
    second = _production(postgres_url, tmp_path)
    assert second not in (None, first)
    assert _finished_bundles(store) == {first, second}
    removed = store.remove_staging(older_than=dt.timedelta(0))
    assert removed and store.fs.find(store.path_of(STAGING_PREFIX)) == []


def _batch_predictions_after_predict(
    root: Path, store: ObjectStore, tmp_path: Path
) -> pd.DataFrame:
    assert main(["predict", "-w", str(root)]) == 0
    return _batch_predictions(store, tmp_path)


def test_a_second_run_on_the_store_is_refused_by_the_database_lock(
    on_s3: S3, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run_refused_while_locked(on_s3[0], capsys)
    assert "another glocal run is using the store s3://" in err
    assert "database session" in err


def test_serve_answers_from_the_bundle_on_s3(on_s3: S3, tmp_path: Path) -> None:
    root, store, _ = on_s3
    data = write_demo(tmp_path / "day1.parquet")
    assert main(["run", "-w", str(root), "--data", str(data)]) == 0
    batch = _batch_predictions_after_predict(root, store, tmp_path)
    port = _free_port()
    env = {
        **os.environ,
        "GLOCAL_SERVING__PORT": str(port),
        "GLOCAL_SERVING__LOG_FLUSH_SECONDS": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "glocal", "serve", "-w", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the service did not become ready"
                time.sleep(0.2)
            for row in batch.head(5).itertuples():
                answer = client.post("/predict", json={"entity_id": row.entity_id}).json()
                assert answer["prediction"] == pytest.approx(row.prediction, rel=1e-12)
                assert answer["source"] == row.source
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert files_of(root) == ["config/settings.yaml"]
    assert store.list_files("predictions/online")  # the request log, published on shutdown


def test_a_missing_bucket_and_an_unreachable_server_are_named(
    tmp_path: Path, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    missing = remote_settings(
        tmp_path / "a", "s3://no-such-bucket/shop", registry, f"  endpoint_url: {s3_endpoint}\n"
    )
    assert main(["predict", "-w", str(missing)]) == 2
    assert "the bucket 'no-such-bucket' does not exist" in " ".join(capsys.readouterr().err.split())
    nowhere = f"  endpoint_url: http://127.0.0.1:{_free_port()}\n"
    unreachable = remote_settings(tmp_path / "b", "s3://bucket/shop", registry, nowhere)
    assert main(["predict", "-w", str(unreachable)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "opening the store failed" in err and "storage.endpoint_url" in err
