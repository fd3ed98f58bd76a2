from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from glocal.core.atomic import atomic_directory, atomic_path, write_json_atomic


def test_atomic_path_replaces_target_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_directory_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "model.txt").write_text("partial")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_publishes_complete_directory(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with atomic_directory(target) as tmp:
        (tmp / "model.txt").write_text("complete")
    assert (target / "model.txt").read_text() == "complete"


def test_a_replacing_directory_swaps_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "2011-10-10"
    with atomic_directory(target, replace=True) as tmp:
        (tmp / "report.html").write_text("first")
    with pytest.raises(RuntimeError), atomic_directory(target, replace=True) as tmp:
        (tmp / "report.html").write_text("partial")
        raise RuntimeError("killed")
    assert (target / "report.html").read_text() == "first"
    with atomic_directory(target, replace=True) as tmp:
        (tmp / "report.html").write_text("second")
    assert (target / "report.html").read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["2011-10-10"]


def test_write_json_atomic_is_sorted_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "record.json"
    write_json_atomic(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')


def test_published_files_get_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert target.stat().st_mode & 0o777 == 0o644
    folder = tmp_path / "folder"
    with atomic_directory(folder) as staging:
        (staging / "a.txt").write_text("x")
    assert folder.stat().st_mode & 0o777 == 0o755


def test_publishing_never_touches_the_process_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(mask: int) -> int:
        raise AssertionError("os.umask changes the whole process: not thread-safe")

    monkeypatch.setattr(os, "umask", forbidden)
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    write_json_atomic(tmp_path / "out.json", {"a": 1})
