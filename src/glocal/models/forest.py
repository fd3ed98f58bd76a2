"""A LightGBM forest flattened into arrays and evaluated by a compiled kernel.

LightGBM's own batch prediction walks every tree for every row through a generic row
reader; for the tens of thousands of rows a batch scores, that walk is nearly all of the
scoring time. :class:`CompiledForest` reads the booster's text model (never a pickle),
flattens all trees into a few arrays, and evaluates them with a Numba kernel that works
on a block of rows per tree, so a tree's nodes stay in cache while many rows go through
it. Decisions follow LightGBM's exactly (missing-value types, default directions,
categorical bitsets, the zero threshold), and trees are summed in LightGBM's order, so
the predictions are the same numbers (tests compare them bit for bit).

Only what this module can reproduce is compiled: single-output models with an identity
output (regression objectives) and constant leaves. :meth:`CompiledForest.from_booster`
returns ``None`` for anything else, and the caller keeps LightGBM's prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "COMPILED_COLD_MIN_ROWS",
    "COMPILED_MIN_ROWS",
    "IDENTITY_OBJECTIVES",
    "ZERO_THRESHOLD",
    "CompiledForest",
    "load_kernel",
    "use_compiled",
]

FloatArray = npt.NDArray[np.float64]

#: LightGBM's kZeroThreshold: the float literal 1e-35f, widened to double.
ZERO_THRESHOLD = float(np.float32(1e-35))
#: Objectives whose prediction is the raw score (no link function).
IDENTITY_OBJECTIVES = frozenset(
    {"regression", "regression_l2", "l2", "mse", "mean_squared_error", "rmse"}
    | {"regression_l1", "l1", "mae", "mean_absolute_error", "huber", "fair"}
    | {"quantile", "mape", "mean_absolute_percentage_error"}
)
#: Below this many rows LightGBM's own prediction is as fast as the kernel.
COMPILED_MIN_ROWS = 20_000
#: Importing Numba and compiling the kernel costs about 2.3 s once per process (there is
#: no on-disk cache: Numba's cache index is a pickle); the kernel saves about 1.5 µs per
#: row, so a cold process uses it from this many rows.
COMPILED_COLD_MIN_ROWS = 1_500_000
_CATEGORICAL = 1
_ROWS_PER_BLOCK = 4096
_LOG = logging.getLogger(__name__)
_kernel_warm = False  # True once the kernel has run in this process


def use_compiled(rows: int) -> bool:
    """Whether a batch of ``rows`` is worth the compiled kernel (``engine='auto'``)."""
    if rows < COMPILED_MIN_ROWS:
        return False
    return rows >= COMPILED_COLD_MIN_ROWS or _kernel_warm


@cache
def load_kernel(serial: bool = False) -> Callable[..., None] | None:
    """Return the compiled kernel, or ``None`` (logged once) when Numba cannot provide it.

    Numba compiles the kernel on first use in each process. Its on-disk cache is off on
    purpose: the cache index is a pickle, and nothing glocal serves from may be one. A
    missing or broken Numba only costs speed. ``serial``
    picks the kernel that runs on the calling thread alone (for a few rows).
    """
    try:
        from glocal.models._forest_kernel import predict_forest, predict_forest_serial
    except (ImportError, RuntimeError, OSError) as exc:  # pragma: no cover - environment
        _LOG.warning("compiled tree scoring is off, LightGBM predicts instead: %s", exc)
        return None
    return cast(Callable[..., None], predict_forest_serial if serial else predict_forest)


def _int_list(text: str) -> list[int]:
    return [int(v) for v in text.split()] if text else []


def _float_list(text: str) -> list[float]:
    return [float(v) for v in text.split()] if text else []


def _parse_model_text(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Split LightGBM's text model into its header and one key/value dict per tree."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    for line in text.splitlines():
        if line.startswith("end of trees"):
            break
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    return header, trees


@dataclass(frozen=True)
class CompiledForest:
    """All trees of a single-output LightGBM model as flat arrays.

    Node indices are global over the forest; a child ``c < 0`` is the leaf ``~c`` in
    :attr:`leaf_value`. A categorical node's category set is the bitset
    ``cat_bits[cat_start : cat_start + cat_words]``.

    Attributes:
        roots: Root of each tree (a leaf code for single-leaf trees).
        feature: Split feature of each node.
        threshold: Numerical threshold of each node.
        decision: LightGBM's decision-type byte of each node.
        left: Left child of each node.
        right: Right child of each node.
        cat_start: First bitset word of each categorical node.
        cat_words: Bitset length in words of each categorical node.
        cat_bits: All category bitsets.
        leaf_value: Output of every leaf.
        n_features: Columns the input matrix must have.

    """

    roots: npt.NDArray[np.int32]
    feature: npt.NDArray[np.int32]
    threshold: FloatArray
    decision: npt.NDArray[np.int8]
    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    cat_start: npt.NDArray[np.int32]
    cat_words: npt.NDArray[np.int32]
    cat_bits: npt.NDArray[np.uint32]
    leaf_value: FloatArray
    n_features: int

    @classmethod
    def from_booster(cls, booster: Any) -> CompiledForest | None:
        """Flatten a ``lightgbm.Booster``; ``None`` when its output cannot be reproduced."""
        return cls.from_model_text(booster.model_to_string())

    @classmethod
    def from_model_text(cls, text: str) -> CompiledForest | None:
        """Flatten a LightGBM text model; ``None`` when its output cannot be reproduced."""
        header, trees = _parse_model_text(text)
        objective = header.get("objective", "").split(" ")[0]
        if (
            header.get("num_tree_per_iteration", "1") != "1"
            or objective not in IDENTITY_OBJECTIVES
            or not trees
            or any(tree.get("is_linear", "0") != "0" for tree in trees)
        ):
            return None
        columns: dict[str, list[Any]] = {
            name: []
            for name in (
                "feature",
                "threshold",
                "decision",
                "left",
                "right",
                "cat_start",
                "cat_words",
            )
        }
        roots: list[int] = []
        leaf_values: list[float] = []
        cat_bits: list[int] = []
        for tree in trees:
            node_offset = len(columns["feature"])
            leaf_offset = len(leaf_values)
            values = _float_list(tree["leaf_value"])
            leaf_values.extend(values)
            if int(tree["num_leaves"]) == 1:
                roots.append(~leaf_offset)
                continue
            roots.append(node_offset)
            decision = _int_list(tree["decision_type"])
            threshold = _float_list(tree["threshold"])
            boundaries = _int_list(tree.get("cat_boundaries", ""))
            bits_offset = len(cat_bits)
            cat_bits.extend(_int_list(tree.get("cat_threshold", "")))
            for position, kind in enumerate(decision):
                if kind & _CATEGORICAL:
                    index = int(threshold[position])
                    columns["cat_start"].append(bits_offset + boundaries[index])
                    columns["cat_words"].append(boundaries[index + 1] - boundaries[index])
                else:
                    columns["cat_start"].append(0)
                    columns["cat_words"].append(0)
            columns["feature"].extend(_int_list(tree["split_feature"]))
            columns["threshold"].extend(threshold)
            columns["decision"].extend(decision)
            for side in ("left", "right"):
                columns[side].extend(
                    child + node_offset if child >= 0 else ~(~child + leaf_offset)
                    for child in _int_list(tree[f"{side}_child"])
                )
        return cls(
            roots=np.asarray(roots, dtype=np.int32),
            feature=np.asarray(columns["feature"], dtype=np.int32),
            threshold=np.asarray(columns["threshold"], dtype=np.float64),
            decision=np.asarray(columns["decision"], dtype=np.int8),
            left=np.asarray(columns["left"], dtype=np.int32),
            right=np.asarray(columns["right"], dtype=np.int32),
            cat_start=np.asarray(columns["cat_start"], dtype=np.int32),
            cat_words=np.asarray(columns["cat_words"], dtype=np.int32),
            cat_bits=np.asarray(cat_bits, dtype=np.uint32),
            leaf_value=np.asarray(leaf_values, dtype=np.float64),
            n_features=int(header["max_feature_idx"]) + 1,
        )

    def predict(self, matrix: FloatArray) -> FloatArray:
        """Sum of all trees for every row of ``matrix`` (rows x :attr:`n_features`).

        Raises:
            RuntimeError: Numba is unavailable (see :func:`load_kernel`).
            ValueError: The matrix has the wrong number of columns.

        """
        kernel = load_kernel(serial=len(matrix) < _ROWS_PER_BLOCK)
        if kernel is None:
            raise RuntimeError("the compiled tree kernel is unavailable; see the log.")
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(
                f"the matrix has shape {matrix.shape}; the forest needs {self.n_features} columns."
            )
        data = np.ascontiguousarray(matrix, dtype=np.float64)
        out = np.zeros(len(data), dtype=np.float64)
        kernel(
            data,
            self.roots,
            self.feature,
            self.threshold,
            self.decision,
            self.left,
            self.right,
            self.cat_start,
            self.cat_words,
            self.cat_bits,
            self.leaf_value,
            ZERO_THRESHOLD,
            _ROWS_PER_BLOCK,
            out,
        )
        global _kernel_warm  # one process-wide fact
        _kernel_warm = True
        return out
