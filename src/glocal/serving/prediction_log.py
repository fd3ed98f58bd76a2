"""The online prediction log: every served prediction, to Parquet, never blocking a request.

Requests put entries on a bounded in-memory queue (a ``deque``: appending is one atomic,
lock-free step; when it is full the entry is dropped and counted, the request goes on). A
writer thread drains it at least every ``flush_seconds`` into
``predictions/online/<date>/part-<time>-<pid>-<n>.parquet``, each part written atomically
and converted column by column with Arrow (short pauses for the serving thread), and drains
it completely on shutdown.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from glocal.core.atomic import atomic_path
from glocal.core.logging import get_logger

__all__ = ["LOG_COLUMNS", "PredictionLog"]

_SCHEMA = pa.schema(
    [
        ("served_at", pa.timestamp("us", tz="UTC")),
        ("entity_id", pa.string()),
        ("prediction", pa.float64()),
        ("source", pa.string()),
        ("global_prediction", pa.float64()),
        ("run_id", pa.string()),
        ("cutoff", pa.string()),
        ("with_features", pa.bool_()),
    ]
)
LOG_COLUMNS = tuple(_SCHEMA.names)
"""Columns of every online log part, in order (``served_at`` is a UTC timestamp)."""

_log = get_logger("serving.log")
_CHUNK = 2048  # entries converted per call: each C call holds the GIL only briefly


def _batch(entries: list[tuple[Any, ...]]) -> pa.RecordBatch:
    """Convert entries column by column (the serving thread runs between two chunks)."""
    columns = list(zip(*entries, strict=True))
    microseconds = (np.asarray(columns[0], dtype=np.float64) * 1e6).astype(np.int64)
    arrays = [pa.array(microseconds, _SCHEMA.field(0).type)]
    arrays += [pa.array(column, _SCHEMA.field(i).type) for i, column in enumerate(columns) if i]
    return pa.RecordBatch.from_arrays(arrays, schema=_SCHEMA)


class PredictionLog:
    """A bounded queue of served predictions and the thread that writes them.

    Args:
        directory: ``predictions/online`` of the workspace.
        capacity: Entries that may wait; beyond, new entries are dropped.
        flush_seconds: Longest wait before waiting entries are written.
        on_drop: Called once per dropped entry (the metrics counter).

    """

    def __init__(
        self,
        directory: Path,
        capacity: int,
        flush_seconds: float,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self.flush_seconds = flush_seconds
        self.on_drop = on_drop
        self.capacity = capacity
        self._queue: deque[tuple[Any, ...]] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="glocal-prediction-log", daemon=True)
        self._parts = 0
        self.dropped = 0
        self.written = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def append(self, entry: tuple[Any, ...]) -> None:
        """Queue one entry (:data:`LOG_COLUMNS` order); drop it if the queue is full."""
        if len(self._queue) >= self.capacity:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return
        self._queue.append(entry)

    def _drain(self) -> list[tuple[Any, ...]]:
        # only this thread pops: the entries counted now are all there
        pop = self._queue.popleft
        return [pop() for _ in range(len(self._queue))]

    def _write(self, entries: list[tuple[Any, ...]]) -> None:
        if not entries:
            return
        table = pa.Table.from_batches(
            [_batch(entries[i : i + _CHUNK]) for i in range(0, len(entries), _CHUNK)], _SCHEMA
        )
        now = dt.datetime.now(dt.UTC)
        self._parts += 1
        name = f"part-{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{self._parts}.parquet"
        path = self.directory / f"{now:%Y-%m-%d}" / name
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        self.written += len(entries)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self._flush_safely()
        self._flush_safely()

    def _flush_safely(self) -> None:
        entries = self._drain()
        try:
            self._write(entries)
        except OSError as exc:  # a full disk must not take the service down
            self.dropped += len(entries)
            _log.error("could not write %d logged predictions: %s", len(entries), exc)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still waiting and stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
