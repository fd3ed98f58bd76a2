"""Panel-frame conventions of the model layer: key columns, feature lists and input checks.

The model layer does not import the feature layer; it only relies on the panel contract:
``entity_id`` (string), ``cutoff`` (datetime), ``target`` (float) and feature columns, where
``category`` columns are categorical and every other feature is numeric.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.core.errors import ModelError

__all__ = [
    "ENTITY_COLUMN",
    "KEY_COLUMNS",
    "TARGET_COLUMN",
    "TIME_COLUMN",
    "check_columns",
    "check_target",
    "coded_entities",
    "concat_frames",
    "entity_chunks",
    "entity_positions",
    "factorize_sorted",
    "numeric_matrix",
    "panel_categorical_columns",
    "panel_feature_columns",
]

ENTITY_COLUMN = "entity_id"
TIME_COLUMN = "cutoff"
TARGET_COLUMN = "target"
KEY_COLUMNS = (ENTITY_COLUMN, TIME_COLUMN, TARGET_COLUMN)


def panel_feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return every column of ``frame`` that is not a key column, in frame order."""
    return [str(column) for column in frame.columns if column not in KEY_COLUMNS]


def panel_categorical_columns(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """Return the features of ``frame`` that have pandas ``category`` dtype."""
    return [c for c in features if isinstance(frame[c].dtype, pd.CategoricalDtype)]


def check_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise :class:`ModelError` naming the columns of ``columns`` missing from ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:20]))
        raise ModelError(
            f"column(s) {', '.join(map(repr, missing))} missing from the {where} frame; "
            f"found columns: {found}. Pass the same feature columns the model was fitted on."
        )


def check_target(frame: pd.DataFrame, where: str) -> npt.NDArray[np.float64]:
    """Return the target of ``frame`` as float64, or raise if it is unusable.

    Raises:
        ModelError: The target column is missing, or has NaN or infinite values (the
            message counts the rows and names an entity that has one).

    """
    check_columns(frame, [TARGET_COLUMN], where)
    try:
        target = frame[TARGET_COLUMN].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"column 'target' of the {where} frame is not numeric: {exc}") from exc
    bad = ~np.isfinite(target)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        entity = frame[ENTITY_COLUMN].iloc[first] if ENTITY_COLUMN in frame else "?"
        raise ModelError(
            f"column 'target' of the {where} frame has {int(bad.sum())} NaN or infinite "
            f"value(s), e.g. for entity {entity!r}; drop or fill those rows before fitting."
        )
    return target


def numeric_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> npt.NDArray[np.float64]:
    """Return ``frame[columns]`` as a C-ordered float64 matrix (missing values as NaN)."""
    if not columns:
        return np.zeros((len(frame), 0), dtype=np.float64)
    try:
        matrix = frame[list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"feature columns {list(columns)} must be numeric for the local models: {exc}"
        ) from exc
    return np.ascontiguousarray(matrix)


def concat_frames(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Stack two panel frames, keeping ``category`` columns categorical (levels united)."""
    stacked = pd.concat([first, second], ignore_index=True)
    for column in first.columns:
        if isinstance(first[column].dtype, pd.CategoricalDtype) and column in second:
            levels = first[column].cat.categories.union(pd.Index(second[column].dropna().unique()))
            stacked[column] = stacked[column].astype(object).astype(pd.CategoricalDtype(levels))
    return stacked


def coded_entities(
    frame: pd.DataFrame, columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.Index]:
    """Return ``frame`` with its entity ids replaced by integer codes, and the ids.

    ``columns``: keep only the key columns (entity, cutoff, target where present) and
    these, so the per-entity work never copies features it does not use.

    Codes follow the sorted ids, so any order by code is the order by id. The per-entity
    work (folds, selection, banks) runs on the codes: integers hash and compare far
    faster than strings, and nothing converts Arrow-backed strings to numpy on the way.
    ``ids.take(codes)`` turns codes back into ids.

    Examples:
        >>> frame = pd.DataFrame({"entity_id": ["b", "a", "b"], "x": [1, 2, 3]})
        >>> coded, ids = coded_entities(frame)
        >>> coded["entity_id"].tolist(), ids.tolist()
        ([1, 0, 1], ['a', 'b'])

    """
    codes, ids = pd.factorize(frame[ENTITY_COLUMN], sort=True)
    if (codes < 0).any():
        raise ModelError("column 'entity_id' has missing values; every row needs an entity.")
    if columns is not None:
        keys = [c for c in KEY_COLUMNS if c in frame.columns and c not in columns]
        frame = frame[[*keys, *columns]]
    coded = frame.assign(**{ENTITY_COLUMN: codes.astype(np.int64)})
    return coded, pd.Index(ids, name=ENTITY_COLUMN)


def factorize_sorted(values: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Return ``pd.factorize(values, sort=True)``, fast for small non-negative integers.

    Entity codes (:func:`coded_entities`) are such integers: a count per value replaces
    the hash table, with the same codes and the same sorted uniques.

    Examples:
        >>> codes, uniques = factorize_sorted(np.array([5, 2, 5, 9]))
        >>> codes.tolist(), uniques.tolist()
        ([1, 0, 1, 2], [2, 5, 9])

    """
    array = np.asarray(values)
    if (
        array.dtype.kind in "iu"
        and len(array)
        and array.min() >= 0
        and array.max() < 4 * len(array) + 1024
    ):
        present = np.bincount(array) > 0
        dense = np.cumsum(present) - 1
        return dense[array].astype(np.int64), np.flatnonzero(present)
    codes, uniques = pd.factorize(pd.Index(array), sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def entity_positions(entity_ids: npt.ArrayLike, entities: pd.Index) -> npt.NDArray[np.int64]:
    """Return each id's position in ``entities`` (-1 where absent), as ``get_indexer`` does.

    Integer codes in increasing order (those of :func:`coded_entities`, or a subset of
    them) need no hash table: in a run ``k..k+n-1`` (a chunk of entities), a code's
    position is ``code - k``; a sequence with gaps is looked up in a table over its span,
    or, where the span is much longer than the ids, found by binary search.

    Examples:
        >>> entity_positions(np.array([4, 0, 9, 4]), pd.Index([0, 4, 7])).tolist()
        [1, 0, -1, 1]
        >>> entity_positions(np.array([7, 5, 9, 4]), pd.Index([5, 6, 7])).tolist()
        [2, 0, -1, -1]
        >>> entity_positions(np.array([9, 0, 10**9]), pd.Index([0, 9, 10**12])).tolist()
        [1, 0, -1]

    """
    ids = np.asarray(entity_ids)
    keys = entities.to_numpy()
    n = len(keys)
    if ids.dtype.kind in "iu" and keys.dtype.kind in "iu" and n and np.all(keys[1:] > keys[:-1]):
        first, span = int(keys[0]), int(keys[n - 1] - keys[0]) + 1
        codes = ids.astype(np.int64) - first
        inside = (codes >= 0) & (codes < span)
        if span == n:  # a run k..k+n-1: a code minus k is its position
            return np.where(inside, codes, -1)
        if span <= 4 * max(n, len(ids)):  # a few gaps: a table over the span, no search
            table = np.full(span, -1, dtype=np.int64)
            table[keys.astype(np.int64) - first] = np.arange(n)
            return np.where(inside, table[np.where(inside, codes, 0)], -1)
        at = np.minimum(np.searchsorted(keys, ids), n - 1)
        return np.where(keys[at] == ids, at, -1).astype(np.int64)
    return np.asarray(entities.get_indexer(pd.Index(ids)), dtype=np.int64)


def entity_chunks(codes: npt.ArrayLike, chunk_rows: int) -> list[slice]:
    """Split rows sorted by integer entity code into slices that never split an entity.

    Each slice holds about ``chunk_rows`` rows (more when one entity alone has more), so
    per-entity work can run chunk by chunk in bounded memory. Rows that are not integer
    codes in non-decreasing order are one slice: they cannot be cut without a sort.

    Examples:
        >>> entity_chunks(np.array([0, 0, 1, 1, 1, 2, 3, 3]), 3)
        [slice(0, 2, None), slice(2, 5, None), slice(5, 8, None)]

    """
    array = np.asarray(codes)
    n = len(array)
    contiguous = array.dtype.kind in "iu" and bool(np.all(array[1:] >= array[:-1]))
    if n <= chunk_rows or not contiguous:
        return [slice(0, n)]
    starts = np.flatnonzero(np.concatenate([[True], array[1:] != array[:-1]]))
    bounds = [0]
    while bounds[-1] < n:
        limit = bounds[-1] + chunk_rows
        if limit >= n:
            bounds.append(n)
            continue
        cut = int(starts[np.searchsorted(starts, limit, side="right") - 1])
        if cut <= bounds[-1]:  # one entity longer than a chunk is a chunk of its own
            after = int(np.searchsorted(starts, bounds[-1], side="right"))
            cut = int(starts[after]) if after < len(starts) else n
        bounds.append(cut)
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]
