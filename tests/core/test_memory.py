"""Returning the C heap's free memory to the operating system."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from glocal.core import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux")
def test_free_memory_is_released_on_linux_after_arrays_come_and_go() -> None:
    blocks = [np.ones(100_000) for _ in range(50)]  # heap blocks (below mmap's threshold)
    del blocks
    assert memory.release_free_memory() is True


def test_without_malloc_trim_nothing_happens_and_it_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release_free_memory() is False
