"""Hand the memory that freed arrays leave in the C heap back to the operating system.

glibc's allocator keeps freed blocks of up to 32 MB in the heap of the thread that used
them (one arena per thread), for reuse. After a thread pool has worked through chunks of
a large frame, that retained memory sits beside whatever the next step allocates, and the
peak resident memory becomes the sum of both. ``malloc_trim`` returns it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free memory to the operating system; False where not possible.

    Examples:
        >>> release_free_memory() in (True, False)
        True

    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
