from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glocal.core.errors import WorkspaceError
from glocal.pipeline import WorkspaceLock

_HOLD = """
import sys, time
from pathlib import Path
from glocal.pipeline import WorkspaceLock
with WorkspaceLock(Path(sys.argv[1]), command="holder"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_second_holder_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    with WorkspaceLock(tmp_path), pytest.raises(WorkspaceError) as info:
        WorkspaceLock(tmp_path).acquire()
    assert f"pid {os.getpid()}" in str(info.value)
    with WorkspaceLock(tmp_path):  # released on exit: can be taken again
        pass


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkspaceError, match=f"pid {holder.pid}.*holder"):
            WorkspaceLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            with WorkspaceLock(tmp_path):
                break
        except WorkspaceError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
