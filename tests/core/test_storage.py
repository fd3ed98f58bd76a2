"""ObjectStore on the local file system: staged, verified publishing and its failures."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from glocal.core.errors import StorageError
from glocal.core.storage import STAGING_PREFIX, ObjectStore, is_url


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore((tmp_path / "store").as_uri())


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (root / "manifest.json").write_text("{}")
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_file_lands_under_its_key_and_leaves_no_staging(
    store: ObjectStore, tmp_path: Path
) -> None:
    local = tmp_path / "x.json"
    local.write_text('{"a": 1}')
    store.publish_file(local, "data/versions/x.json")
    assert store.list_files() == ["data/versions/x.json"]
    assert store.read_bytes("data/versions/x.json") == b'{"a": 1}'
    assert store.list_files(STAGING_PREFIX) == []
    back = tmp_path / "back" / "x.json"
    store.download("data/versions/x.json", back)
    assert back.read_text() == '{"a": 1}'


def test_publish_tree_copies_the_marker_last(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _tree(tmp_path / "bundle")
    copied: list[str] = []
    original = store.fs.copy

    def record(source: str, target: str, **kwargs: Any) -> None:
        copied.append(target.rsplit("/bundles/r1/", 1)[1])
        original(source, target, **kwargs)

    monkeypatch.setattr(store.fs, "copy", record)
    expected = {"a.txt": _sha(local / "a.txt"), "sub/b.bin": _sha(local / "sub/b.bin")}
    url = store.publish_tree(local, "bundles/r1", expected=expected, last="manifest.json")
    assert url == store.url + "/bundles/r1"
    assert copied[-1] == "manifest.json"
    assert store.list_files("bundles") == [
        "bundles/r1/a.txt",
        "bundles/r1/manifest.json",
        "bundles/r1/sub/b.bin",
    ]
    target = tmp_path / "copy"
    store.download_tree("bundles/r1", target)
    assert (target / "sub" / "b.bin").read_bytes() == b"\x00\x01"


def test_a_corrupted_upload_publishes_nothing(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _tree(tmp_path / "bundle")
    original = store.fs.put_file

    def corrupting(source: str, target: str, **kwargs: Any) -> None:  # failure injection
        original(source, target, **kwargs)
        if target.endswith("b.bin"):
            Path(target).write_bytes(b"garbage")

    monkeypatch.setattr(store.fs, "put_file", corrupting)
    with pytest.raises(StorageError, match=r"uploaded copy of b\.bin .* nothing was published"):
        store.publish_tree(local, "bundles/r1", last="manifest.json")
    assert store.list_files() == []


def test_a_file_changed_after_its_manifest_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    local = _tree(tmp_path / "bundle")
    with pytest.raises(StorageError, match=r"a\.txt has SHA-256 .* its manifest says 00"):
        store.publish_tree(local, "bundles/r1", expected={"a.txt": "00"}, last="manifest.json")
    assert store.list_files() == []


def test_remove_staging_keeps_live_uploads(store: ObjectStore, tmp_path: Path) -> None:
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).strftime("%Y%m%dT%H%M%S")
    new = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    for name in (f"{old}-aaaa", f"{new}-bbbb"):
        store.fs.pipe(store.path_of(f"{STAGING_PREFIX}/{name}/x"), b"x")
    assert store.remove_staging() == [f"{STAGING_PREFIX}/{old}-aaaa"]
    assert store.exists(f"{STAGING_PREFIX}/{new}-bbbb/x")


def test_keys_and_urls(store: ObjectStore) -> None:
    url = store.url_of("models/bundles/r1")
    assert store.key_of(url) == "models/bundles/r1"
    assert is_url(url)
    with pytest.raises(StorageError, match=r"is not inside storage\.url"):
        store.key_of("s3://elsewhere/models/bundles/r1")


def test_bad_urls_and_missing_buckets_are_named() -> None:
    with pytest.raises(StorageError, match="is not a URL"):
        ObjectStore("/no/scheme")
    with pytest.raises(StorageError, match="cannot open the 'nosuchfs' file system"):
        ObjectStore("nosuchfs://bucket/x")
