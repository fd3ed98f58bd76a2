"""Calendar-anchored cutoff dates and the end of the data.

A cutoff is midnight of a date ``anchor + k * every`` for a whole number ``k``, so adding
data never moves the cutoffs that already exist. Dates are handled as day numbers (days
since 1970-01-01) so the SQL that uses them is plain integer arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from glocal.config.features import FeatureSettings
from glocal.core.errors import ConfigError

__all__ = [
    "CutoffRange",
    "date_of",
    "day_number",
    "entity_cutoff_grid",
    "resolve_cutoff_range",
]

_EPOCH = dt.date(1970, 1, 1)


def day_number(date: dt.date) -> int:
    """Return the number of days from 1970-01-01 to ``date``."""
    return (date - _EPOCH).days


def date_of(number: int) -> dt.date:
    """Return the date ``number`` days after 1970-01-01 (the inverse of :func:`day_number`)."""
    return _EPOCH + dt.timedelta(days=int(number))


def _first_on_or_after(day: int, anchor: int, every: int) -> int:
    return anchor + -((anchor - day) // every) * every


def _last_on_or_before(day: int, anchor: int, every: int) -> int:
    return anchor + ((day - anchor) // every) * every


@dataclass(frozen=True)
class CutoffRange:
    """The anchored cutoffs of a panel, as day numbers, and the data span they come from.

    ``end_day`` is the end of the data: the day after the last transaction's date. Data is
    complete for every day before it, so a target over ``[cutoff, cutoff + horizon)`` is
    known exactly when ``cutoff + horizon <= end_day``.
    """

    first: int
    last: int
    every: int
    end_day: int

    def days(self) -> np.ndarray:
        """Return every cutoff of the range as an array of day numbers."""
        return np.arange(self.first, self.last + 1, self.every, dtype=np.int64)

    @property
    def end_date(self) -> dt.date:
        """The end of the data as a date (exclusive: the day after the last transaction)."""
        return date_of(self.end_day)


def _check_inside(name: str, value: dt.date, lowest: int, end_day: int) -> None:
    number = day_number(value)
    if lowest <= number <= end_day:
        return
    raise ConfigError(
        f"features.{name} {value} is outside the data: cutoffs must lie between "
        f"{date_of(lowest)} (the day after the first purchase) and {date_of(end_day)} "
        f"(the day after the last transaction). Set features.{name} inside that range, "
        "or leave it empty (null) to use the whole data."
    )


def resolve_cutoff_range(
    first_purchase_day: int, last_day: int, settings: FeatureSettings
) -> CutoffRange:
    """Return the anchored cutoffs between the data's first purchase and its end.

    Args:
        first_purchase_day: day number of the earliest purchase of any entity.
        last_day: day number of the latest transaction of any kind.
        settings: anchor, spacing and the optional ``first_cutoff``/``last_cutoff`` bounds.

    Raises:
        ConfigError: if ``first_cutoff`` or ``last_cutoff`` lies outside the data, or no
            anchored cutoff falls between them.

    """
    anchor = day_number(settings.cutoff_anchor)
    every = settings.cutoff_every_days
    end_day = last_day + 1
    lowest = first_purchase_day + 1
    first, last = lowest, end_day
    if settings.first_cutoff is not None:
        _check_inside("first_cutoff", settings.first_cutoff, lowest, end_day)
        first = day_number(settings.first_cutoff)
    if settings.last_cutoff is not None:
        _check_inside("last_cutoff", settings.last_cutoff, lowest, end_day)
        last = day_number(settings.last_cutoff)
    snapped_first = _first_on_or_after(first, anchor, every)
    snapped_last = _last_on_or_before(last, anchor, every)
    if snapped_first > snapped_last:
        raise ConfigError(
            f"no cutoff falls between {date_of(first)} and {date_of(last)}: "
            f"cutoffs are {settings.cutoff_anchor} plus multiples of "
            f"features.cutoff_every_days={every}. Widen features.first_cutoff/last_cutoff, "
            "lower features.cutoff_every_days, or provide more data."
        )
    return CutoffRange(first=snapped_first, last=snapped_last, every=every, end_day=end_day)


def entity_cutoff_grid(
    first_purchase: np.ndarray, cutoffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pair every entity with every cutoff strictly after its first purchase day.

    Args:
        first_purchase: day number of each entity's first purchase (entity ``i`` at ``i``).
        cutoffs: sorted cutoff day numbers.

    Returns:
        ``(entity_index, cutoff_day)`` arrays, ordered by entity, then cutoff.

    Examples:
        >>> entity, cutoff = entity_cutoff_grid(np.array([5, 0]), np.array([3, 6, 9]))
        >>> entity.tolist(), cutoff.tolist()
        ([0, 0, 1, 1, 1], [6, 9, 3, 6, 9])

    """
    start = np.searchsorted(cutoffs, first_purchase, side="right")
    counts = len(cutoffs) - start
    entity = np.repeat(np.arange(len(first_purchase)), counts)
    group_start = np.repeat(np.cumsum(counts) - counts, counts)
    position = np.arange(int(counts.sum())) - group_start + np.repeat(start, counts)
    return entity, cutoffs[position]
