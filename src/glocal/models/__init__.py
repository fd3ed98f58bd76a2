"""Model layer: the global model, the local model bank and per-entity selection.

The front class is :class:`HybridModel`; it combines a :class:`GlobalModel`, a vectorized
:class:`LocalModelBank` of per-entity ridge models (plus cheaper shrunk corrections), and
:func:`select_per_entity`, which keeps an entity on the global model unless a local
candidate is significantly better on validation data.
"""

from __future__ import annotations

from glocal.models.corrections import ShrunkCorrection
from glocal.models.global_model import GlobalModel
from glocal.models.hybrid import PREDICTION_COLUMNS, HybridModel
from glocal.models.local_bank import LocalModelBank, fit_local_banks
from glocal.models.selection import DECISION_COLUMNS, Candidate, Reason, select_per_entity

__all__ = [
    "DECISION_COLUMNS",
    "PREDICTION_COLUMNS",
    "Candidate",
    "GlobalModel",
    "HybridModel",
    "LocalModelBank",
    "Reason",
    "ShrunkCorrection",
    "fit_local_banks",
    "select_per_entity",
]
