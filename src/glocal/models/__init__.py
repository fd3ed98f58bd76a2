"""Model layer: the global model, the local model bank and per-entity selection.

The front class is :class:`HybridModel`; it combines a :class:`GlobalStage` (global
learners on the target and on baseline forecasts, averaged over those that hold up on
validation folds), a vectorized :class:`LocalModelBank` of per-entity ridge models (plus
cheaper shrunk candidates), :func:`select_per_entity`, which keeps an entity on the
global stage unless a local candidate is significantly better on its validation rows, and
:func:`guard_level`, which checks on held-out folds that those switches help.

The names below are imported on first use (PEP 562), so importing a light submodule such
as :mod:`glocal.models.decisions` (the registry does) does not load LightGBM, SciPy or
scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glocal.models.corrections import ShrunkCorrection
    from glocal.models.decisions import DECISION_COLUMNS
    from glocal.models.global_model import GlobalModel
    from glocal.models.global_stage import GlobalStage
    from glocal.models.guard import guard_level
    from glocal.models.hybrid import PREDICTION_COLUMNS, HybridModel
    from glocal.models.local_bank import LocalModelBank, fit_local_banks
    from glocal.models.selection import Candidate, Reason, select_per_entity

_HOMES = {
    "DECISION_COLUMNS": "decisions",
    "PREDICTION_COLUMNS": "hybrid",
    "Candidate": "selection",
    "GlobalModel": "global_model",
    "GlobalStage": "global_stage",
    "HybridModel": "hybrid",
    "LocalModelBank": "local_bank",
    "Reason": "selection",
    "ShrunkCorrection": "corrections",
    "fit_local_banks": "local_bank",
    "guard_level": "guard",
    "select_per_entity": "selection",
}

# spelled out, not derived from _HOMES: linters and type checkers read a literal __all__
__all__ = [
    "DECISION_COLUMNS",
    "PREDICTION_COLUMNS",
    "Candidate",
    "GlobalModel",
    "GlobalStage",
    "HybridModel",
    "LocalModelBank",
    "Reason",
    "ShrunkCorrection",
    "fit_local_banks",
    "guard_level",
    "select_per_entity",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'glocal.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"glocal.models.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
