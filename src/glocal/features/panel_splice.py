"""The next panel from the last one: copy the rows that cannot have changed, compute the rest.

When a new data version changes the lines of a few entities, most rows of the panel stay
as they were. Let ``D`` be the first day on which any changed (or gone) entity's history
differs. Then:

* at a cutoff after ``D``, after the old last cutoff, or whose target window reaches past
  the old or new end of the data when that end moved, every row is computed again: its
  BG/NBD + Gamma-Gamma fit sees every entity at that cutoff, so one entity's change moves
  every row there;
* at any other cutoff, every feature of every row reads history before the cutoff, which
  is the same as before for all entities: the row is copied from the last panel, and only
  the target of a changed entity is computed again (its window may reach past ``D``).

The rows computed again are computed in the same order as a full build (entity codes, then
cutoffs), so every BG/NBD fit has the same inputs, and the result is the full build's
panel exactly; ``tests/features/test_entity_history.py`` checks that on random logs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from glocal.config.features import FeatureSettings
from glocal.core.errors import ConfigError
from glocal.features.cutoffs import CutoffRange, entity_cutoff_grid, resolve_cutoff_range
from glocal.features.entity_history import CARRIED, EntityHistory, PreviousHistory
from glocal.features.schema import CUTOFF, CUTOFF_DTYPE, ENTITY, TARGET, calendar_features
from glocal.features.snapshot_features import snapshot_features, snapshot_target
from glocal.features.transactions_sql import MEASURES

__all__ = ["first_changed_day", "spliced_panel"]


def first_changed_day(before: pd.DataFrame, after: pd.DataFrame, changed: pd.Index) -> float:
    """Return the first day on which a ``changed`` entity's history rows differ (inf: none).

    Args:
        before: the earlier history table.
        after: the new history table.
        changed: the rebuilt entities and those gone since.

    """
    old = before.loc[before["entity_id"].isin(changed)]
    new = after.loc[after["entity_id"].isin(changed)]
    old, new = (frame.astype({"entity_id": str}) for frame in (old, new))  # few rows
    merged = old.merge(
        new, on=["entity_id", "day"], how="outer", suffixes=("_old", "_new"), indicator=True
    )
    differs = np.array(merged["_merge"] != "both", dtype=bool)  # a writable copy
    for name in (*MEASURES, *CARRIED):
        left, right = merged[f"{name}_old"], merged[f"{name}_new"]
        same = (left == right).to_numpy(dtype=bool) | (left.isna() & right.isna()).to_numpy()
        differs |= ~same
    return float(merged.loc[differs, "day"].min()) if differs.any() else math.inf


def _old_cutoffs(
    firsts: pd.Series, previous: PreviousHistory, settings: FeatureSettings
) -> CutoffRange | None:
    """Return the old panel's cutoffs, from its entities' first purchases and its end."""
    if firsts.empty:
        return None
    try:
        return resolve_cutoff_range(int(firsts.min()), previous.kept.end_day - 1, settings)
    except ConfigError:
        return None


def _old_firsts(previous: PreviousHistory) -> pd.Series:
    """Return the first purchase day of each entity of the old history, by sorted id."""
    table = previous.kept.table
    bought = table["purchase_days"].to_numpy() > 0
    codes = table["entity_id"].cat.codes.to_numpy()[bought]
    firsts = pd.Series(table["day"].to_numpy()[bought]).groupby(codes, sort=True).min()
    ids = table["entity_id"].cat.categories[firsts.index.to_numpy()]
    result: pd.Series = pd.Series(firsts.to_numpy(), index=ids).sort_index()
    return result


def _matches(panel: pd.DataFrame, ids: pd.Index, starts: np.ndarray, counts: np.ndarray) -> bool:
    """Return whether ``panel`` has the rows the old history implies (a cheap check)."""
    if len(panel) != int(counts.sum()):
        return False
    some = counts > 0
    at_starts = panel[ENTITY].iloc[starts[some]].to_numpy().astype(str)
    return bool(np.array_equal(at_starts, ids.to_numpy(dtype=str)[some]))


def _country_codes(values: np.ndarray | pd.Index, categories: list[str]) -> np.ndarray:
    codes: np.ndarray = pd.Index(categories).get_indexer(pd.Index(values))
    return codes


def spliced_panel(
    history: EntityHistory,
    previous: PreviousHistory,
    settings: FeatureSettings,
    cutoffs: CutoffRange,
    countries: list[str] | None,
    changed_from: float,
) -> pd.DataFrame | None:
    """Return the panel of ``history`` made from ``previous.panel`` (see the module docs).

    Args:
        history: the new history (every entity).
        previous: the earlier history, the rebuilt entities and the earlier panel.
        settings: the feature settings both panels were built with.
        cutoffs: the new panel's cutoffs.
        countries: the categories of ``country`` (None: no country column).
        changed_from: :func:`first_changed_day` of the rebuilt and gone entities.

    Returns:
        The panel, equal to a full build; None when the earlier panel cannot be used
        (none given, other first cutoff or spacing, or not the rows its history implies).

    """
    old_panel = previous.panel
    if old_panel is None:
        return None
    old_firsts = _old_firsts(previous)
    old_cutoffs = _old_cutoffs(old_firsts, previous, settings)
    if old_cutoffs is None:
        return None
    if (old_cutoffs.first, old_cutoffs.every) != (cutoffs.first, cutoffs.every):
        return None
    old_ids, old_days = pd.Index(old_firsts.index), old_firsts.to_numpy()
    old_counts = len(old_cutoffs.days()) - np.searchsorted(old_cutoffs.days(), old_days, "right")
    old_starts = np.cumsum(old_counts) - old_counts
    if not _matches(old_panel, old_ids, old_starts, old_counts):
        return None
    days = cutoffs.days()
    # the full build's grid: entity codes ascending, then cutoffs
    row, cutoff = entity_cutoff_grid(history.first_days, days)
    counts = np.bincount(row, minlength=len(history.codes))
    starts = np.cumsum(counts) - counts
    ids = np.asarray(history.entities, dtype=object)[history.codes]
    old_of = old_ids.get_indexer(pd.Index(ids))  # each entity's place in the old panel

    horizon = settings.horizon_days
    again = (days > changed_from) | (days > old_cutoffs.last)
    if previous.kept.end_day != cutoffs.end_day:
        again |= days + horizon > min(previous.kept.end_day, cutoffs.end_day)
    computed = again[(cutoff - cutoffs.first) // cutoffs.every]
    rebuilt = pd.Index(ids).isin(previous.rebuilt) | (old_of < 0)  # a hash lookup
    copied = ~computed
    # a copied row's entity is in the old panel with the same first purchase, hence the
    # same first cutoff: its k-th row there is its k-th row here
    kept = np.unique(row[copied])
    if (old_of[kept] < 0).any() or (old_days[old_of[kept]] != history.first_days[kept]).any():
        return None  # only a wrong list of rebuilt entities gets here
    position = np.arange(len(row)) - starts[row]
    old_row = old_starts[old_of[row[copied]]] + position[copied]

    codes = history.codes[row[computed]]
    fresh = snapshot_features(
        history.totals,
        codes,
        cutoff[computed],
        history.first_days[row[computed]],
        settings,
        cutoffs.end_day,
    )
    fresh |= calendar_features(pd.Series(_stamps(cutoff[computed])))
    retarget = copied & rebuilt[row]
    target = snapshot_target(
        history.totals, history.codes[row[retarget]], cutoff[retarget], settings, cutoffs.end_day
    )
    # the panel's order: entity ids, then cutoffs (what finalize_panel's sort gives)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    order = np.argsort(rank[row], kind="stable")

    columns: dict[str, object] = {}
    for name in old_panel.columns:
        if name == ENTITY:
            # Arrow spreads the ids over the rows: no Python string per row
            text = pc.take(pa.array(ids, type=pa.string()), pa.array(row[order]))
            columns[name] = pd.array(text, dtype=old_panel[ENTITY].dtype)
        elif name == CUTOFF:
            columns[name] = _stamps(cutoff[order])
        elif name == "country":
            assert countries is not None
            out = np.empty(len(row), dtype=np.int64)
            old_codes = old_panel[name].cat.codes.to_numpy()
            remap = np.r_[_country_codes(old_panel[name].cat.categories, countries), -1]
            out[copied] = remap[old_codes[old_row]]
            out[computed] = _country_codes(fresh[name], countries)
            columns[name] = pd.Categorical.from_codes(out[order], categories=pd.Index(countries))
        else:
            values = np.empty(len(row), dtype=np.float64)
            values[copied] = old_panel[name].to_numpy(dtype=np.float64)[old_row]
            values[computed] = np.asarray(fresh[name], dtype=np.float64)
            if name == TARGET:
                values[retarget] = target
            columns[name] = values[order]
    return pd.DataFrame(columns)


def _stamps(cutoff: np.ndarray) -> np.ndarray:
    """Return cutoff day numbers as the panel's timestamps."""
    stamps: np.ndarray = cutoff.astype("datetime64[D]").astype(CUTOFF_DTYPE)
    return stamps
