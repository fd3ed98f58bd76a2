from __future__ import annotations

import threading

import pytest

from glocal.core.background import BackgroundCall


def test_the_call_runs_on_its_own_thread_and_wait_returns_after_it() -> None:
    seen: list[str] = []
    release = threading.Event()

    def work() -> None:
        release.wait(5)
        seen.append(threading.current_thread().name)

    call = BackgroundCall(work, name="glocal-test-call")
    assert seen == []  # still waiting for release: the caller went on
    release.set()
    call.wait()
    call.wait()  # a second wait returns too
    assert seen == ["glocal-test-call"]


def test_wait_raises_what_the_call_raised_and_join_does_not() -> None:
    def work() -> None:
        raise OSError("disk full")

    call = BackgroundCall(work, name="glocal-test-failure")
    call.join()
    with pytest.raises(OSError, match="disk full"):
        call.wait()
    with pytest.raises(OSError, match="disk full"):
        call.wait()


def test_the_thread_is_not_a_daemon() -> None:
    release = threading.Event()
    call = BackgroundCall(lambda: release.wait(5) and None, name="glocal-test-daemon")
    thread = next(t for t in threading.enumerate() if t.name == "glocal-test-daemon")
    assert not thread.daemon  # an exiting interpreter waits for a write that started
    release.set()
    call.wait()
