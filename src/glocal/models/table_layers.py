"""Per-entity tables saved as layers, so a bundle shares what did not change.

A saved model's per-entity tables (ridge banks, corrections, decisions) are Parquet
*layers*: a base layer with every entity, then at most :data:`MAX_LAYERS` - 1 delta
layers, each holding the rows that changed against the table before it and, in a second
file, the entities it removed. Every layer file is named by its content's SHA-256.

Saving against a *base* (the parent run's saved model) compares the new table with the
base's, row by row over all columns, and writes only the changed rows; the base's layer
files are hard links, never copies (:func:`glocal.core.links.link_or_copy`). So a daily
run that retrained 1% of the entities adds about 1% of the tables' bytes. A table is
written whole again when there is no usable base, its columns changed, the chain of
layers is full, or the delta layers would hold more than :data:`MAX_CHANGED_SHARE` of its
rows. Reading applies the layers in order; the result has one row per entity, sorted by
entity id.

Examples:
    >>> import tempfile
    >>> old = pd.DataFrame({"entity_id": ["a", "b", "c"], "value": [1.0, 2.0, 3.0]})
    >>> new = pd.DataFrame({"entity_id": ["a", "b", "d"], "value": [1.0, 5.0, 4.0]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     first, second = Path(tmp) / "first", Path(tmp) / "second"
    ...     base_layers = write_table(old, first, "corrections/level")
    ...     layers = write_table(
    ...         new, second, "corrections/level", base=(first, base_layers), max_share=1.0
    ...     )
    ...     restored = read_table(second, layers)
    >>> [layer["rows_count"] for layer in layers]
    [3, 2]
    >>> restored.equals(new)
    True

"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.core.atomic import FILE_MODE
from glocal.core.errors import ModelError
from glocal.core.hashing import hash_file
from glocal.core.links import link_or_copy
from glocal.models.frames import ENTITY_COLUMN

__all__ = ["MAX_CHANGED_SHARE", "MAX_LAYERS", "read_table", "write_table"]

MAX_LAYERS = 8
"""Most layers a table has; the save after that writes it whole again."""

MAX_CHANGED_SHARE = 0.25
"""Largest share of a table's rows its delta layers may hold before it is written whole."""

Layer = dict[str, Any]
"""One layer as saved in ``hybrid.json``: ``rows``, ``rows_count``, ``removed`` (or None)."""

_LAYER_FILE = re.compile(r"[a-z_]+(/[a-z_]+)?/[0-9a-f]{32}(-removed)?\.parquet")


def _write_layer_file(frame: pd.DataFrame, root: Path, table: str, suffix: str = "") -> str:
    """Write ``frame`` under ``root/table`` named by its SHA-256; return the relative path."""
    folder = root / table
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / ".layer.tmp"
    frame.to_parquet(staged, index=False)
    relative = f"{table}/{hash_file(staged)[:32]}{suffix}.parquet"
    staged.replace(root / relative)
    (root / relative).chmod(FILE_MODE)
    return relative


def _layer_path(root: Path, relative: str) -> Path:
    if not _LAYER_FILE.fullmatch(relative):
        raise ModelError(
            f"{root}/hybrid.json names the table layer {relative!r}, which is not a layer "
            "file of a saved model; the file was edited. Restore the bundle or re-run."
        )
    return root / relative


def _read_file(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path} of a saved hybrid model: {exc}") from exc


def read_table(root: Path, layers: list[Layer]) -> pd.DataFrame:
    """Return the table saved as ``layers`` under ``root`` (one row per entity).

    Raises:
        ModelError: A layer is missing, unreadable or not a layer file name.

    """
    if not layers:
        raise ModelError(f"{root}/hybrid.json lists a table without layers; re-run.")
    state = _read_file(_layer_path(root, layers[0]["rows"]))
    dtypes = state.dtypes
    for layer in layers[1:]:
        rows = _read_file(_layer_path(root, layer["rows"]))
        gone = rows[ENTITY_COLUMN]
        if layer.get("removed"):
            removed = _read_file(_layer_path(root, layer["removed"]))[ENTITY_COLUMN]
            gone = pd.concat([gone, removed], ignore_index=True)
        kept = state.loc[~state[ENTITY_COLUMN].isin(gone).to_numpy()]
        state = pd.concat([kept, rows], ignore_index=True)
    if len(layers) > 1:
        state = state.astype(dtypes.to_dict()).sort_values(ENTITY_COLUMN, kind="stable")
        state = state.reset_index(drop=True)
    return state


def _same(new: npt.NDArray[Any], old: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Return where two equally long arrays hold the same value (missing equals missing)."""
    both_missing = np.asarray(pd.isna(new), dtype=bool) & np.asarray(pd.isna(old), dtype=bool)
    try:
        equal = np.asarray(new == old, dtype=bool)
    except (TypeError, ValueError):
        equal = np.array([a == b for a, b in zip(new, old, strict=True)], dtype=bool)
    same: npt.NDArray[np.bool_] = equal | both_missing
    return same


def _changes(
    new: pd.DataFrame, old: pd.DataFrame
) -> tuple[npt.NDArray[np.bool_], pd.Series] | None:
    """Return which rows of ``new`` differ from ``old`` and which entities left; None: all."""
    if list(new.columns) != list(old.columns) or ENTITY_COLUMN not in new.columns:
        return None
    old_ids = pd.Index(old[ENTITY_COLUMN].to_numpy(dtype=object))
    new_ids = new[ENTITY_COLUMN].to_numpy(dtype=object)
    if not old_ids.is_unique or not pd.Index(new_ids).is_unique:
        return None
    position = old_ids.get_indexer(new_ids)
    changed = position < 0
    found = np.where(changed, 0, position)
    for column in new.columns:
        if column == ENTITY_COLUMN or not len(old):
            continue
        fresh, before = new[column].to_numpy(), old[column].to_numpy()
        if fresh.dtype != before.dtype:
            fresh, before = fresh.astype(object), before.astype(object)
        changed |= ~_same(fresh, before[found])
    kept = np.zeros(len(old), dtype=bool)  # both unique: the found positions are the kept rows
    kept[position[position >= 0]] = True
    removed = old[ENTITY_COLUMN].loc[~kept]
    return changed, removed


def _intact(root: Path, relative: str) -> bool:
    """Return whether a layer file still has the content its name's hash says."""
    path = _layer_path(root, relative)
    return path.is_file() and hash_file(path)[:32] == path.name[:32]


def _read_base(base: tuple[Path, list[Layer]] | None) -> pd.DataFrame | None:
    if base is None or not base[1]:
        return None
    try:
        return read_table(*base)
    except ModelError:
        return None


def write_table(
    frame: pd.DataFrame,
    root: Path,
    table: str,
    *,
    base: tuple[Path, list[Layer]] | None = None,
    max_layers: int = MAX_LAYERS,
    max_share: float = MAX_CHANGED_SHARE,
) -> list[Layer]:
    """Save ``frame`` as the table ``table`` under ``root``; return its layers.

    Args:
        frame: One row per entity (column ``entity_id``).
        root: The saved model's directory.
        table: The table's folder, such as ``banks/direct``.
        base: The same table of the model this one was derived from: its directory and
            layers. Its layer files are linked, and only the changed rows are written.
        max_layers: Most layers before the table is written whole.
        max_share: Largest share of rows the delta layers may hold (see the module).

    """
    base_frame = _read_base(base)
    changes = None if base_frame is None else _changes(frame, base_frame)
    if base is None or changes is None:
        return [_full_layer(frame, root, table)]
    changed, removed = changes
    base_root, base_layers = base
    delta_rows = sum(int(layer["rows_count"]) for layer in base_layers[1:])
    delta_rows += int(changed.sum()) + len(removed)
    if len(base_layers) + 1 > max_layers or delta_rows > max_share * max(len(frame), 1):
        return [_full_layer(frame, root, table)]
    # equal layers (two empty deltas, say) share one file: link each file once
    files = sorted({layer[k] for layer in base_layers for k in ("rows", "removed") if layer.get(k)})
    if not all(_intact(base_root, relative) for relative in files):
        return [_full_layer(frame, root, table)]
    for relative in files:
        link_or_copy(base_root / relative, root / relative)
    rows = frame.loc[changed].reset_index(drop=True)
    layer: Layer = {
        "rows": _write_layer_file(rows, root, table),
        "rows_count": len(rows),
        "removed": None,
    }
    if len(removed):
        gone = pd.DataFrame({ENTITY_COLUMN: removed.to_numpy()})
        layer["removed"] = _write_layer_file(gone, root, table, "-removed")
    return [*base_layers, layer]


def _full_layer(frame: pd.DataFrame, root: Path, table: str) -> Layer:
    return {
        "rows": _write_layer_file(frame, root, table),
        "rows_count": len(frame),
        "removed": None,
    }
