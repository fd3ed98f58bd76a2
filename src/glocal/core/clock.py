"""One place to read the time, so that a run can be replayed as of a past date.

Every timestamp glocal records (run ids, bundle and registry times, data versions, panel
records) comes from :func:`now`. Normally that is the wall clock. Inside
:func:`frozen_at`, it is a fixed moment: ``glocal run --as-of DATE`` and ``glocal backtest``
run the same code with the clock set to the replayed date, so a replay writes what the
routine would have written on that day. The setting is a context variable: it applies to
the calling thread (and tasks started from it), never to a server's other threads.

Examples:
    >>> import datetime as dt
    >>> with frozen_at(dt.datetime(2011, 6, 6, tzinfo=dt.UTC)):
    ...     print(now().isoformat())
    2011-06-06T00:00:00+00:00
    >>> is_frozen()
    False

"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["as_of_moment", "frozen_at", "is_frozen", "now"]

_FROZEN: ContextVar[dt.datetime | None] = ContextVar("glocal_frozen_clock", default=None)


def now() -> dt.datetime:
    """Return the current time in UTC: the frozen moment inside :func:`frozen_at`."""
    frozen = _FROZEN.get()
    return frozen if frozen is not None else dt.datetime.now(dt.UTC)


def is_frozen() -> bool:
    """Return whether the clock is frozen (a replay is running)."""
    return _FROZEN.get() is not None


def as_of_moment(day: dt.date) -> dt.datetime:
    """Return midnight UTC at the start of ``day``: the moment a run as of ``day`` happens."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[dt.datetime]:
    """Freeze :func:`now` at ``moment`` (made UTC-aware) inside the ``with`` block."""
    aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    token = _FROZEN.set(aware.astimezone(dt.UTC))
    try:
        yield aware
    finally:
        _FROZEN.reset(token)
