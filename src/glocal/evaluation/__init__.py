"""Evaluation layer: policies compared on the test block, metrics, plots and the report."""

from __future__ import annotations

from glocal.evaluation.evaluate import POLICIES, Evaluation, evaluate_split, write_evaluation

__all__ = ["POLICIES", "Evaluation", "evaluate_split", "write_evaluation"]
