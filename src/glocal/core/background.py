"""``BackgroundCall``: one function run on a thread, its failure raised where it is awaited.

For work that releases the interpreter lock (writing Parquet, for one) while the calling
thread goes on with something else. The thread is not a daemon: an interpreter that exits
waits for it, so a write that started is never cut short by the end of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["BackgroundCall"]


class BackgroundCall:
    """Runs ``function()`` on a thread of its own, started at once.

    :meth:`wait` joins the thread and raises whatever the function raised; :meth:`join`
    only joins it (for a caller that is already failing with an error of its own).
    """

    def __init__(self, function: Callable[[], None], name: str) -> None:
        self._function = function
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._call, name=name)
        self._thread.start()

    def _call(self) -> None:
        try:
            self._function()
        except BaseException as error:  # raised again by wait(), in the waiting thread
            self._error = error

    def join(self) -> None:
        """Return once the function has returned or raised."""
        self._thread.join()

    def wait(self) -> None:
        """Return once the function has returned; raise what it raised, if it did.

        Raises:
            BaseException: the function's own exception, at every call after it failed.

        """
        self._thread.join()
        if self._error is not None:
            raise self._error
