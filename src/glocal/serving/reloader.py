"""Hot reload: follow the registry's ``production`` alias without dropping a request.

A background thread checks the alias every ``reload_poll_seconds`` (and at once when
:meth:`Reloader.trigger` is called, which ``SIGHUP`` does). When it moved, the new run is
loaded and verified *beside* the one being served, then swapped in with one reference
assignment: a request that already holds the old state finishes on it. A run that fails
verification or loading is refused, logged and counted; the old one keeps serving, and the
refused run is not retried until the alias moves again or ``SIGHUP`` asks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from glocal.config import Settings, Workspace
from glocal.core.errors import GlocalError
from glocal.core.logging import get_logger
from glocal.pipeline.remote import sync_workspace
from glocal.registry import Registry
from glocal.serving.metrics import ServingMetrics
from glocal.serving.state import ServingState, load_serving_state, settle_heap

__all__ = ["Reloader", "StateHolder"]

_log = get_logger("serving.reload")


class StateHolder:
    """The state being served; swapped whole, read without a lock."""

    def __init__(self, state: ServingState | None) -> None:
        self.state = state


class Reloader:
    """Polls the production alias and swaps in each new run once it has loaded.

    Args:
        workspace: The workspace served.
        settings: Its settings.
        holder: Where the served state lives.
        metrics: The service's metrics.
        loader: Builds a state (tests inject failures here).

    """

    def __init__(
        self,
        workspace: Workspace,
        settings: Settings,
        holder: StateHolder,
        metrics: ServingMetrics,
        loader: Callable[[Workspace, Settings], ServingState | None] = load_serving_state,
    ) -> None:
        self.workspace = workspace
        self.settings = settings
        self.holder = holder
        self.metrics = metrics
        self.loader = loader
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._refused: str | None = None
        self._force = False
        self._thread = threading.Thread(target=self._run, name="glocal-reloader", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def trigger(self) -> None:
        """Check the alias now, and retry a refused run (what ``SIGHUP`` does)."""
        self._force = True
        self._wake.set()

    def _production_alias(self) -> str | None:
        with Registry.open(self.settings.registry.url, self.workspace) as registry:
            return registry.alias("production")

    def check(self) -> bool:
        """Load the production run if it differs from the one served; return if swapped."""
        current = self.holder.state.run_id if self.holder.state is not None else None
        try:
            alias = self._production_alias()
        except GlocalError as exc:
            _log.warning("cannot read the production alias: %s", exc)
            return False
        force, self._force = self._force, False
        if alias is None or alias == current or (alias == self._refused and not force):
            return False
        try:
            state = self.loader(self.workspace, self.settings)
        except (GlocalError, OSError, ValueError) as exc:
            self._refused = alias
            self.metrics.reloads.labels(outcome="refused").inc()
            _log.error("refused run %s, still serving %s: %s", alias, current, exc)
            return False
        if state is None:
            return False
        self.holder.state = state  # one reference assignment: in-flight requests keep theirs
        settle_heap()
        self._refused = None
        self.metrics.reloads.labels(outcome="loaded").inc()
        self.metrics.serving(state.run_id, current)
        _log.info("now serving run %s (was %s)", state.run_id, current)
        return True

    def _run(self) -> None:
        poll = self.settings.serving.reload_poll_seconds
        while not self._stop.is_set():
            self._wake.wait(poll if poll > 0 else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.check()
            publish_online_log(self.workspace)

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)


def publish_online_log(workspace: Workspace) -> None:
    """With an object store, publish the prediction log files written since last time."""
    if workspace.store is None:
        return
    try:
        sync_workspace(workspace)
    except GlocalError as exc:  # kept locally; the next poll tries again
        _log.warning("cannot publish the prediction log yet: %s", exc)
