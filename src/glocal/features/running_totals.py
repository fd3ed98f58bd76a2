"""Point-in-time lookups into per-entity running totals, by vectorized binary search.

``history`` rows are sorted by (entity, day) and hold running totals up to the end of that
day. The total of an entity *strictly before* day ``t`` is the value on its last row with
``day < t`` (zero when there is none), found for all queries at once with one
``numpy.searchsorted`` over the combined (entity, day) key. A window sum over ``[t0, t1)``
is the difference of two such lookups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["AsOf", "RunningTotals", "running_by_entity"]

_DAY_BIAS = 1 << 31  # keeps day numbers before 1970 positive inside the combined key


def _keys(entity: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (entity.astype(np.int64) << 32) + (day.astype(np.int64) + _DAY_BIAS)


def running_by_entity(
    entity: np.ndarray,
    columns: Mapping[str, np.ndarray],
    summed: Sequence[str],
    carried: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Return per-day values as each entity's running values up to and including each day.

    Rows are sorted by entity (``entity`` holds each row's entity, any integer codes), then
    by day. Every column of ``summed`` (integers) becomes its running sum within the
    entity; every column of ``carried`` its last non-missing value so far within the
    entity, missing (NaN, or None for objects) before the first. Array operations only.

    The sums are exact: each is one cumulative sum over all rows minus its value before
    the entity's first row. Integer sums wrap around past 2**63, but a difference of two
    of them is exact whenever the entity's own total fits in 64 bits.

    Examples:
        >>> out = running_by_entity(np.array([0, 0, 1, 1]),
        ...     {"net": np.array([5, 2, 7, 1]), "last": np.array([3.0, np.nan, np.nan, 8.0])},
        ...     summed=["net"], carried=["last"])
        >>> out["net"].tolist(), out["last"].tolist()
        ([5, 7, 7, 8], [3.0, 3.0, nan, 8.0])

    """
    rows = np.arange(len(entity))
    starts = np.r_[True, entity[1:] != entity[:-1]] if len(entity) else np.zeros(0, dtype=bool)
    first_row = np.maximum.accumulate(np.where(starts, rows, 0))
    out: dict[str, np.ndarray] = {}
    for name in summed:
        total = np.cumsum(np.asarray(columns[name], dtype=np.int64))
        before = np.where(first_row > 0, total[np.maximum(first_row - 1, 0)], 0)
        out[name] = total - before
    for name in carried:
        values = np.asarray(columns[name])
        last = np.maximum.accumulate(np.where(pd.isna(values), -1, rows))
        missing = last < first_row
        carried_values = values[np.maximum(last, 0)]
        if missing.any():
            carried_values = carried_values.astype(
                object if carried_values.dtype == object else np.float64
            )
            carried_values[missing] = None if carried_values.dtype == object else np.nan
        out[name] = carried_values
    return out


class AsOf:
    """The running totals of many (entity, day) queries, as of the start of each day."""

    def __init__(self, columns: Mapping[str, np.ndarray], row: np.ndarray, found: np.ndarray):
        self._columns = columns
        self._row = row
        self._found = found

    def total(self, measure: str) -> np.ndarray:
        """Return the running total of ``measure`` before each query day (0 if none)."""
        values: np.ndarray = np.where(self._found, self._columns[measure][self._row], 0)
        return values

    def last(self, column: str) -> np.ndarray:
        """Return ``column`` on the entity's last row before each query day (None if none)."""
        values: np.ndarray = self._columns[column][self._row].astype(object)
        values[~self._found] = None
        return values


class RunningTotals:
    """Running totals of every entity, looked up as of any day.

    Examples:
        >>> totals = RunningTotals({"entity_id": np.array([0, 0, 1]),
        ...                         "day": np.array([10, 12, 11]),
        ...                         "net": np.array([5, 7, 100])})
        >>> totals.as_of(np.array([0, 0, 0, 1]), np.array([10, 11, 13, 11])).total("net")
        array([0, 5, 7, 0])

    """

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self._columns = columns
        self._entity = columns["entity_id"].astype(np.int64)
        self._keys = _keys(self._entity, columns["day"])
        if len(self._keys) > 1 and not bool(np.all(np.diff(self._keys) > 0)):
            raise ValueError("running totals must be sorted by (entity_id, day), one row each")

    def as_of(self, entity: np.ndarray, day: np.ndarray) -> AsOf:
        """Return the totals of each ``entity`` over its days strictly before ``day``."""
        row = np.searchsorted(self._keys, _keys(entity, day), side="left") - 1
        safe = np.maximum(row, 0)
        found = (row >= 0) & (self._entity[safe] == entity)
        return AsOf(self._columns, safe, found)
