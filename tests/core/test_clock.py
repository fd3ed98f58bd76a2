from __future__ import annotations

import datetime as dt
import threading

from glocal.core import clock


def test_frozen_inside_the_block_only_and_made_utc() -> None:
    moment = dt.datetime(2011, 6, 6)
    with clock.frozen_at(moment):
        assert clock.now() == dt.datetime(2011, 6, 6, tzinfo=dt.UTC)
        assert clock.is_frozen()
    assert not clock.is_frozen()
    assert abs(clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_other_threads_keep_the_wall_clock() -> None:
    seen: list[bool] = []
    with clock.frozen_at(clock.as_of_moment(dt.date(2011, 6, 6))):
        worker = threading.Thread(target=lambda: seen.append(clock.is_frozen()))
        worker.start()
        worker.join()
    assert seen == [False]


def test_as_of_moment_is_midnight_utc() -> None:
    assert clock.as_of_moment(dt.date(2011, 12, 9)).isoformat() == "2011-12-09T00:00:00+00:00"
