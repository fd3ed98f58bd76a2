from __future__ import annotations

import json
from pathlib import Path

import pytest

from glocal.core.errors import ModelError
from glocal.core.records import read_versioned_json


def _read(path: Path) -> dict[str, object]:
    return read_versioned_json(
        path, format_name="thing", max_version=2, error=ModelError, missing="no thing", what="thing"
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no thing"),
        ("{not json", "cannot read"),
        (json.dumps({"format": "other", "format_version": 1}), "is not a glocal thing"),
        (json.dumps({"format": "thing", "format_version": 3}), "Upgrade glocal"),
    ],
)
def test_bad_records_are_refused(tmp_path: Path, content: str | None, fragment: str) -> None:
    path = tmp_path / "record.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ModelError, match=fragment):
        _read(path)


def test_current_record_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"format": "thing", "format_version": 2, "x": 1}))
    assert _read(path)["x"] == 1
