from __future__ import annotations

import importlib
import subprocess
import sys
import threading

import pytest

from glocal.pipeline import model_imports
from glocal.pipeline.model_imports import ModelImports

_FRESH_PROCESS = """
import sys
from glocal.pipeline.model_imports import ModelImports
assert "lightgbm" not in sys.modules, "the pipeline layer imports LightGBM by itself"
imports = ModelImports()
imports.start()
imports.start()  # once
imports.wait()
assert "lightgbm" in sys.modules and "glocal.models.persistence" in sys.modules
import threading
assert not [t for t in threading.enumerate() if t.name == "glocal-model-imports"]
print("ok")
"""


def test_the_model_layer_is_imported_on_a_thread_in_a_fresh_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_starting_a_run_imports_neither_scipy_nor_the_model_layer() -> None:
    # what `glocal run` imports before its steps: SciPy (0.6 s) and LightGBM come later,
    # on the imports thread while new data is ingested, or not at all
    startup = (
        "import sys, glocal.cli.main, glocal.pipeline.run; "
        "print(sorted(m for m in ('scipy', 'sklearn', 'lightgbm') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", startup], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_waiting_without_starting_returns_at_once() -> None:
    ModelImports().wait()
    assert not [t for t in threading.enumerate() if t.name == "glocal-model-imports"]


def test_a_failed_import_is_left_for_the_step_to_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = "glocal_no_such_module_for_this_test"
    monkeypatch.setattr(model_imports, "MODEL_MODULES", (missing, "glocal.models"))
    escaped: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    imports = ModelImports()
    imports.start()
    imports.wait()
    assert not escaped  # the thread ended quietly
    with pytest.raises(ModuleNotFoundError, match=missing):
        importlib.import_module(missing)
