"""The model layer's imports, started on a thread while the ingest step reads new data.

The pipeline imports the model layer (LightGBM, which imports scikit-learn and SciPy: about
2.5 s) only when a run trains or scores, so that a run with nothing to do stays quick. A
run that ingests new data will train; :class:`ModelImports` lets it import the model
layer on a background thread while the ingest step reads, checks and cleans the file
(work that mostly runs in Arrow, DuckDB and numpy, outside the interpreter lock), instead
of in the steps after it. The features step's BG/NBD fits import SciPy where they use it,
after the wait: in such a run it is imported already.

The imports are those the train and predict steps make anyway, into the same
``sys.modules``: nothing else changes. :meth:`ModelImports.wait` must return before the
calling thread imports any of them itself: two threads importing one package's circular
imports at the same time could each see a module that the other has half initialised.
The ingest step's own lazy imports (Arrow's dataset, CSV and JSON modules) share no module
with the model layer. A failed import is left for the calling thread's own import to
report, with its message.
"""

from __future__ import annotations

import importlib
import threading

__all__ = ["MODEL_MODULES", "ModelImports"]

MODEL_MODULES: tuple[str, ...] = (
    "glocal.models",
    "glocal.models.persistence",
    "glocal.models.incremental",
)
"""What the train and predict steps import (LightGBM, scikit-learn, SciPy with them)."""


class ModelImports:
    """Imports :data:`MODEL_MODULES` on one background thread, once."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin importing (a second call does nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=_import_all, name="glocal-model-imports", daemon=True
            )
            self._thread.start()

    def wait(self) -> None:
        """Return once the imports are done (at once if they never started)."""
        if self._thread is not None:
            self._thread.join()


def _import_all() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the step's own import reports it, with its message
            return
