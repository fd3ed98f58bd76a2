"""``glocal run`` in a child process that pauses before one step, for the crash tests.

Usage: ``python -m tests.pipeline.paused_run ROOT DATA [STEP]``. The pause is a hook passed
to :func:`run_pipeline` by this test-only entry point; a production run has no way to
trigger it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from glocal.config import Workspace
from glocal.pipeline import WorkspaceLock, run_pipeline


def main(root: Path, data: Path, pause: str | None) -> None:
    def hook(step: str) -> None:
        if step == pause:
            print(f"glocal: paused at {step}", file=sys.stderr, flush=True)
            time.sleep(3600)

    with WorkspaceLock(root, command="glocal run"):
        workspace = Workspace(root)
        workspace.init()
        run_pipeline(workspace, workspace.settings(), data=data, on_step=hook)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
