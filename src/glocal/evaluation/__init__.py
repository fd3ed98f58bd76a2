"""Evaluation layer: policies compared on the test block, metrics, plots and the report."""

from __future__ import annotations

from glocal.evaluation.evaluate import (
    BASELINE_POLICIES,
    POLICIES,
    Evaluation,
    evaluate_split,
    evaluate_windows,
    window_entry,
)
from glocal.evaluation.outputs import write_evaluation

__all__ = [
    "BASELINE_POLICIES",
    "POLICIES",
    "Evaluation",
    "evaluate_split",
    "evaluate_windows",
    "window_entry",
    "write_evaluation",
]
