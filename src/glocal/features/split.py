"""Out-of-time layout of a panel: rolling validation folds inside the history, then a test block.

The layout is built backwards from the last cutoff whose target is known::

    history ......................................| embargo | test
       fold 2:  train ...| embargo | val |
       fold 1:  train ........| embargo | val |
       fold 0:  train ..............| embargo | val |

With ``L`` that last cutoff, ``e`` the embargo and ``t`` the test length, the test block
is ``(L - t, L]`` and the *history* is every cutoff up to ``L - t - e``. Models are fitted
on the history only. Inside it, ``folds`` validation folds of ``validation_days`` each
are laid back from its end: fold ``k`` holds the cutoffs ``(E - (k + 1) v, E - k v]`` (``E``
the history's last cutoff) and is predicted by models trained on the cutoffs up to its
start minus the embargo. ``e >= horizon`` guarantees that no target window
``[cutoff, cutoff + horizon)`` of an earlier block reaches the first cutoff of a later one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.features import SplitSettings
from glocal.core.errors import ConfigError, DataValidationError
from glocal.features.schema import CUTOFF, ENTITY, TARGET

__all__ = ["BlockRange", "Fold", "PanelSplit", "resolve_embargo", "rolling_folds", "split_panel"]


@dataclass(frozen=True)
class BlockRange:
    """The first and last cutoff date of one block (both inclusive)."""

    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Fold:
    """One validation fold: its cutoffs ``(start, end]`` and its training cut.

    Attributes:
        index: 0 for the most recent fold, 1 for the one before, ...
        train_end: Last cutoff (inclusive) of the fold's training rows.
        start: The fold's cutoffs are after this ...
        end: ... and up to this (inclusive).

    """

    index: int
    train_end: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp

    def train_mask(self, cutoffs: pd.Series) -> npt.NDArray[np.bool_]:
        """Rows whose cutoff is in the fold's training block."""
        return np.asarray(cutoffs <= self.train_end)

    def validation_mask(self, cutoffs: pd.Series) -> npt.NDArray[np.bool_]:
        """Rows whose cutoff is in the fold's validation block."""
        return np.asarray((cutoffs > self.start) & (cutoffs <= self.end))

    def to_dict(self) -> dict[str, str | int]:
        """Return the fold's dates for metrics and reports."""
        return {
            "fold": self.index,
            "train_end": self.train_end.date().isoformat(),
            "start": self.start.date().isoformat(),
            "end": self.end.date().isoformat(),
        }


def resolve_embargo(split: SplitSettings, horizon_days: int) -> int:
    """Return the embargo in days: ``split.embargo_days``, or one horizon when empty.

    Raises:
        ConfigError: The horizon is not positive, or the embargo is shorter than it.

    """
    if horizon_days <= 0:
        raise ConfigError(
            f"features.horizon_days must be a positive number of days, got {horizon_days}."
        )
    embargo = horizon_days if split.embargo_days is None else split.embargo_days
    if embargo < horizon_days:
        raise ConfigError(
            f"split.embargo_days={embargo} is shorter than features.horizon_days="
            f"{horizon_days}: targets of one block would overlap the next block. "
            f"Set split.embargo_days to at least {horizon_days}, or leave it empty."
        )
    return embargo


def rolling_folds(
    cutoffs: pd.Series, n_folds: int, fold_days: int, embargo_days: int
) -> list[Fold]:
    """Lay ``n_folds`` validation folds back from the last cutoff of ``cutoffs``.

    Raises:
        DataValidationError: A fold would have no validation or no training rows; the
            message says how many days of history the layout needs.

    Examples:
        >>> cutoffs = pd.Series(pd.date_range("2011-01-03", periods=30, freq="7D"))
        >>> layout = rolling_folds(cutoffs, n_folds=3, fold_days=28, embargo_days=28)
        >>> [str(f.start.date()) for f in layout]
        ['2011-06-27', '2011-05-30', '2011-05-02']
        >>> int(layout[0].validation_mask(cutoffs).sum()), int(layout[0].train_mask(cutoffs).sum())
        (4, 22)

    """
    if len(cutoffs) == 0:
        raise DataValidationError("there are no rows with a known target to lay folds over.")
    last, first = pd.Timestamp(cutoffs.max()), pd.Timestamp(cutoffs.min())
    folds = []
    for index in range(n_folds):
        end = last - pd.Timedelta(days=index * fold_days)
        start = end - pd.Timedelta(days=fold_days)
        fold = Fold(index, start - pd.Timedelta(days=embargo_days), start, end)
        if not fold.validation_mask(cutoffs).any() or not fold.train_mask(cutoffs).any():
            needed = n_folds * fold_days + embargo_days
            raise DataValidationError(
                f"too little history for {n_folds} validation folds of {fold_days} days with "
                f"an embargo of {embargo_days} days: the cutoffs with a known target run from "
                f"{first.date()} to {last.date()} ({(last - first).days} days), the layout "
                f"needs more than {needed}. Provide more history, or lower split.folds or "
                "split.validation_days."
            )
        folds.append(fold)
    return folds


def _range(block: pd.DataFrame) -> BlockRange:
    return BlockRange(start=block[CUTOFF].min().date(), end=block[CUTOFF].max().date())


@dataclass(frozen=True)
class PanelSplit:
    """The history and test blocks of a panel, and the validation folds in the history.

    Every row of every block has a known target.

    Examples:
        >>> cutoffs = pd.date_range("2011-01-03", periods=40, freq="7D")
        >>> panel = pd.DataFrame({"entity_id": "a", "cutoff": cutoffs, "target": 1.0})
        >>> split = split_panel(panel, SplitSettings(validation_days=14, test_days=14), 7)
        >>> print(split.describe()[["block", "rows", "entities"]].to_string(index=False))
          block  rows  entities
        history    37         1
         fold 1     2         1
         fold 2     2         1
         fold 3     2         1
           test     2         1

    """

    history: pd.DataFrame
    test: pd.DataFrame
    folds: list[Fold]
    horizon_days: int
    embargo_days: int

    def describe(self) -> pd.DataFrame:
        """Return one row per block: history, each fold (oldest last), test."""
        cutoffs = self.history[CUTOFF]
        rows = [("history", self.history)]
        rows += [
            (f"fold {fold.index + 1}", self.history.loc[fold.validation_mask(cutoffs)])
            for fold in self.folds
        ]
        rows.append(("test", self.test))
        return pd.DataFrame(
            [
                {
                    "block": name,
                    "start": _range(block).start,
                    "end": _range(block).end,
                    "rows": len(block),
                    "entities": int(block[ENTITY].nunique()),
                }
                for name, block in rows
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``split`` section of metrics.json: ranges, sizes, folds, horizon."""
        summary: dict[str, Any] = {
            "horizon_days": self.horizon_days,
            "embargo_days": self.embargo_days,
        }
        for name, block in (("history", self.history), ("test", self.test)):
            summary[name] = {
                "start": _range(block).start.isoformat(),
                "end": _range(block).end.isoformat(),
                "rows": len(block),
                "entities": int(block[ENTITY].nunique()),
            }
        summary["folds"] = [fold.to_dict() for fold in self.folds]
        return summary


def split_panel(
    panel: pd.DataFrame, split: SplitSettings, horizon_days: int, *, offset_days: int = 0
) -> PanelSplit:
    """Split the rows of ``panel`` with a known target into history and test.

    Args:
        panel: a panel in the contract of :mod:`glocal.features.schema`.
        split: fold and test lengths, the number of folds and the embargo.
        horizon_days: length of the target window; the embargo must be at least this.
        offset_days: end the test block this many days before the last known cutoff
            (``glocal evaluate --windows`` steps back in time with it).

    Raises:
        ConfigError: if the horizon is not positive or the embargo is shorter than it.
        DataValidationError: if no target is known, or the known span is too short for a
            test block and the folds (the message says how much is needed).

    """
    embargo = resolve_embargo(split, horizon_days)
    known = panel[panel[TARGET].notna()]
    if known.empty:
        raise DataValidationError(
            "no row of the panel has a known target, so there is nothing to train or "
            f"evaluate on. The target needs {horizon_days} days of data after a cutoff."
        )
    last = known[CUTOFF].max() - pd.Timedelta(days=offset_days)
    test_start = last - pd.Timedelta(days=split.test_days)
    history_end = test_start - pd.Timedelta(days=embargo)
    cutoff = known[CUTOFF]
    history = known[cutoff <= history_end].reset_index(drop=True)
    test = known[(cutoff > test_start) & (cutoff <= last)].reset_index(drop=True)
    span = f"{cutoff.min().date()} to {known[CUTOFF].max().date()}"
    if test.empty or history.empty:
        needed = split.test_days + embargo + split.folds * split.validation_days + embargo
        raise DataValidationError(
            f"the split leaves no {'test' if test.empty else 'history'} block: cutoffs with "
            f"a known target run from {span}, but a test block of split.test_days="
            f"{split.test_days} (ending {offset_days} days before the last one), an embargo "
            f"of {embargo} days and {split.folds} folds of split.validation_days="
            f"{split.validation_days} need them to span more than {needed} days. Provide "
            "more history, or lower split.test_days, split.folds or split.validation_days."
        )
    folds = rolling_folds(history[CUTOFF], split.folds, split.validation_days, embargo)
    return PanelSplit(
        history=history,
        test=test,
        folds=folds,
        horizon_days=horizon_days,
        embargo_days=embargo,
    )
