"""``glocal run`` in a child process that pauses in the middle of a bundle's S3 upload.

Usage: ``python -m tests.pipeline.paused_upload GLOCAL-ARGS...``. After some of the
bundle's files are staged, the upload prints ``glocal: paused at upload`` and sleeps, so
the test can ``kill -9`` it there. The pause is failure injection patched in by this
test-only entry point; a production run has no way to trigger it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from glocal.cli.main import main
from glocal.core.storage import ObjectStore

_original = ObjectStore._upload_verified


def _pausing(self: ObjectStore, local: Path, staged: str, expected: str) -> None:
    _original(self, local, staged, expected)
    if staged.endswith("/hybrid.json"):  # a bundle file: others are staged, some are not
        print("glocal: paused at upload", file=sys.stderr, flush=True)
        time.sleep(3600)


if __name__ == "__main__":
    patched: Any = _pausing
    ObjectStore._upload_verified = patched  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
