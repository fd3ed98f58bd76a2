"""The Numba kernel behind :class:`glocal.models.forest.CompiledForest`.

Kept in its own module so Numba is imported, and the kernel compiled, only when a large
batch is scored. The kernels are compiled in each process, never read from Numba's
on-disk cache: its index file is a pickle, which could run code when loaded.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]

_CATEGORICAL = 1
_DEFAULT_LEFT = 2
_MISSING_ZERO = 1
_MISSING_NAN = 2
_MAX_CATEGORY = 2**31


@numba.njit(nogil=True, inline="always")  # type: ignore[untyped-decorator]
def _next_node(
    value: float,
    node: int,
    threshold: Floats,
    decision: npt.NDArray[np.int8],
    left: Ints,
    right: Ints,
    cat_start: Ints,
    cat_words: Ints,
    cat_bits: npt.NDArray[np.uint32],
    zero: float,
) -> int:
    """Return the child ``value`` goes to at ``node``: LightGBM's ``Tree::Decision``."""
    kind = decision[node]
    if kind & _CATEGORICAL:
        # LightGBM truncates toward zero (static_cast<int>): (-1, 0) is category 0, while
        # NaN, negative and out-of-int categories go right
        if math.isnan(value) or value <= -1.0 or value >= _MAX_CATEGORY:
            return int(right[node])
        category = int(value)
        word = category >> 5
        if word < cat_words[node] and (cat_bits[cat_start[node] + word] >> (category & 31)) & 1:
            return int(left[node])
        return int(right[node])
    missing = (kind >> 2) & 3
    if math.isnan(value):
        if missing == _MISSING_NAN:
            return int(left[node] if kind & _DEFAULT_LEFT else right[node])
        value = 0.0
    elif -zero <= value <= zero:  # LightGBM's row reader drops such values: they read as 0
        value = 0.0
    if missing == _MISSING_ZERO and value == 0.0:
        return int(left[node] if kind & _DEFAULT_LEFT else right[node])
    return int(left[node] if value <= threshold[node] else right[node])


@numba.njit(nogil=True, inline="always")  # type: ignore[untyped-decorator]
def _leaf(
    data: Floats,
    row: int,
    root: int,
    feature: Ints,
    threshold: Floats,
    decision: npt.NDArray[np.int8],
    left: Ints,
    right: Ints,
    cat_start: Ints,
    cat_words: Ints,
    cat_bits: npt.NDArray[np.uint32],
    leaf_value: Floats,
    zero: float,
) -> float:
    """Return the output of the leaf that row ``row`` reaches in the tree at ``root``."""
    node = root
    while node >= 0:
        node = _next_node(
            data[row, feature[node]],
            node,
            threshold,
            decision,
            left,
            right,
            cat_start,
            cat_words,
            cat_bits,
            zero,
        )
    return float(leaf_value[~node])


@numba.njit(nogil=True, parallel=True)  # type: ignore[untyped-decorator]
def predict_forest(
    data: Floats,
    roots: Ints,
    feature: Ints,
    threshold: Floats,
    decision: npt.NDArray[np.int8],
    left: Ints,
    right: Ints,
    cat_start: Ints,
    cat_words: Ints,
    cat_bits: npt.NDArray[np.uint32],
    leaf_value: Floats,
    zero: float,
    block: int,
    out: Floats,
) -> None:
    """Add every tree's leaf output to ``out`` for every row of ``data``.

    Rows are processed in blocks (in parallel); within a block, tree by tree, so the
    trees' nodes stay in cache while the block's rows pass through them.
    """
    n_rows = data.shape[0]
    n_blocks = (n_rows + block - 1) // block
    for b in numba.prange(n_blocks):
        start = b * block
        stop = min(start + block, n_rows)
        for tree in range(roots.shape[0]):
            for row in range(start, stop):
                out[row] += _leaf(
                    data, row, roots[tree], feature, threshold, decision, left, right,
                    cat_start, cat_words, cat_bits, leaf_value, zero,
                )  # fmt: skip


@numba.njit(nogil=True)  # type: ignore[untyped-decorator]
def predict_forest_serial(
    data: Floats,
    roots: Ints,
    feature: Ints,
    threshold: Floats,
    decision: npt.NDArray[np.int8],
    left: Ints,
    right: Ints,
    cat_start: Ints,
    cat_words: Ints,
    cat_bits: npt.NDArray[np.uint32],
    leaf_value: Floats,
    zero: float,
    block: int,
    out: Floats,
) -> None:
    """:func:`predict_forest` on the calling thread alone, for a few rows (one request).

    Waking the parallel kernel's thread pool costs more than walking the trees for one
    row, and under load those threads compete with the server's. The sums are the same,
    tree by tree in the same order. ``block`` is accepted for the same signature.
    """
    for row in range(data.shape[0]):
        for tree in range(roots.shape[0]):
            out[row] += _leaf(
                data, row, roots[tree], feature, threshold, decision, left, right,
                cat_start, cat_words, cat_bits, leaf_value, zero,
            )  # fmt: skip
