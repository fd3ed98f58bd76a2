"""Out-of-time split of a panel into train, validation and test blocks by cutoff.

The blocks are laid out from the end of the rows whose target is known::

    train | embargo | validation | embargo | test
                                              ^ last cutoff with a known target

With ``L`` that last cutoff, ``e`` the embargo, ``v`` and ``t`` the block lengths:
test is ``(L - t, L]``, validation is ``(L - t - e - v, L - t - e]`` and train is every
cutoff up to ``L - t - e - v - e``. Consecutive blocks are then more than ``e`` days
apart, and ``e >= horizon`` guarantees that no target window ``[cutoff, cutoff + horizon)``
of an earlier block reaches the first cutoff of a later one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from glocal.config.features import SplitSettings
from glocal.core.errors import ConfigError, DataValidationError
from glocal.features.schema import CUTOFF, ENTITY, TARGET

__all__ = ["BLOCKS", "BlockRange", "PanelSplit", "split_panel"]

BLOCKS = ("train", "validation", "test")


@dataclass(frozen=True)
class BlockRange:
    """The first and last cutoff date of one block (both inclusive)."""

    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class PanelSplit:
    """The train, validation and test blocks of a panel and their date ranges.

    Every row of every block has a known target.

    Examples:
        >>> cutoffs = pd.date_range("2011-01-03", periods=40, freq="7D")
        >>> panel = pd.DataFrame({"entity_id": "a", "cutoff": cutoffs, "target": 1.0})
        >>> split = split_panel(panel, SplitSettings(validation_days=28, test_days=14), 7)
        >>> print(split.describe()[["block", "rows", "entities"]].to_string(index=False))
             block  rows  entities
             train    32         1
        validation     4         1
              test     2         1

    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    ranges: dict[str, BlockRange]
    horizon_days: int
    embargo_days: int

    def block(self, name: str) -> pd.DataFrame:
        """Return the rows of the block called ``name`` (train, validation or test)."""
        blocks = {"train": self.train, "validation": self.validation, "test": self.test}
        return blocks[name]

    def describe(self) -> pd.DataFrame:
        """Return one row per block: first and last cutoff, rows and distinct entities."""
        return pd.DataFrame(
            [
                {
                    "block": name,
                    "start": self.ranges[name].start,
                    "end": self.ranges[name].end,
                    "rows": len(self.block(name)),
                    "entities": int(self.block(name)[ENTITY].nunique()),
                }
                for name in BLOCKS
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``split`` section of metrics.json: ranges, sizes, horizon and embargo."""
        summary: dict[str, Any] = {
            "horizon_days": self.horizon_days,
            "embargo_days": self.embargo_days,
        }
        for name in BLOCKS:
            block = self.block(name)
            summary[name] = {
                "start": self.ranges[name].start.isoformat(),
                "end": self.ranges[name].end.isoformat(),
                "rows": len(block),
                "entities": int(block[ENTITY].nunique()),
            }
        return summary


def _range(block: pd.DataFrame) -> BlockRange:
    return BlockRange(start=block[CUTOFF].min().date(), end=block[CUTOFF].max().date())


def split_panel(panel: pd.DataFrame, split: SplitSettings, horizon_days: int) -> PanelSplit:
    """Split the rows of ``panel`` with a known target into train, validation and test.

    Args:
        panel: a panel in the contract of :mod:`glocal.features.schema`.
        split: block lengths and the embargo (empty embargo means one horizon).
        horizon_days: length of the target window; the embargo must be at least this.

    Raises:
        ConfigError: if the horizon is not positive or the embargo is shorter than it.
        DataValidationError: if no target is known, or the known span is too short to
            leave a train and a validation block (the message says how much is needed).

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
    known = panel[panel[TARGET].notna()]
    if known.empty:
        raise DataValidationError(
            "no row of the panel has a known target, so there is nothing to train or "
            f"evaluate on. The target needs {horizon_days} days of data after a cutoff."
        )
    last = known[CUTOFF].max()
    test_start = last - pd.Timedelta(days=split.test_days)
    validation_end = test_start - pd.Timedelta(days=embargo)
    validation_start = validation_end - pd.Timedelta(days=split.validation_days)
    train_end = validation_start - pd.Timedelta(days=embargo)
    cutoff = known[CUTOFF]
    train = known[cutoff <= train_end]
    validation = known[(cutoff > validation_start) & (cutoff <= validation_end)]
    test = known[cutoff > test_start]
    span = f"{cutoff.min().date()} to {last.date()} ({(last - cutoff.min()).days} days)"
    lengths = (
        f"split.test_days={split.test_days}, split.validation_days={split.validation_days}, "
        f"embargo {embargo} days"
    )
    if validation.empty:
        raise DataValidationError(
            f"the split leaves no validation block: cutoffs with a known target run from "
            f"{span}, but a validation block needs at least {split.test_days + embargo} days "
            f"of them plus one cutoff in the {split.validation_days}-day validation window "
            f"({lengths}). Provide more history, or lower split.test_days."
        )
    if train.empty:
        needed = split.test_days + split.validation_days + 2 * embargo
        raise DataValidationError(
            f"the split leaves no train block: cutoffs with a known target run from {span}, "
            f"but a train block needs them to span at least {needed} days ({lengths}: "
            "test + validation + 2 x embargo). Provide more history, or lower "
            "split.test_days / split.validation_days."
        )
    blocks = {"train": train, "validation": validation, "test": test}
    return PanelSplit(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
        ranges={name: _range(block) for name, block in blocks.items()},
        horizon_days=horizon_days,
        embargo_days=embargo,
    )
