"""The columns of a per-entity decision record (no heavy imports: the registry reads it)."""

from __future__ import annotations

from glocal.models.frames import ENTITY_COLUMN

__all__ = ["DECISION_COLUMNS"]

DECISION_COLUMNS = (
    ENTITY_COLUMN,
    "decision",
    "candidate",
    "weight",
    "reason",
    "n_train",
    "n_val",
    "val_mse_global",
    "val_mse_local",
    "p_value",
)
"""Columns of the decision records, in order."""
