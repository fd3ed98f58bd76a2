from __future__ import annotations

import hashlib
from pathlib import Path

from glocal.core.hashing import hash_file, hash_json


def test_hash_file_matches_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    payload = b"x" * (3 << 20) + b"tail"
    path.write_bytes(payload)
    assert hash_file(path) == hashlib.sha256(payload).hexdigest()


def test_hash_json_ignores_key_order() -> None:
    assert hash_json({"a": 1, "b": [1, 2]}) == hash_json({"b": [1, 2], "a": 1})
    assert hash_json({"a": 1}) != hash_json({"a": 2})
