"""Log a registered glocal run to MLflow and register its bundle as one pyfunc version."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from glocal.config import Settings
from glocal.core.errors import ConfigError
from glocal.core.logging import get_logger

__all__ = ["PYFUNC_CODE", "log_run_to_mlflow", "require_mlflow", "run_parameters"]

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
"""The pyfunc's model code, logged with each model (MLflow "models from code")."""

_log = get_logger(__name__)

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_\-. :/]")
"""Characters MLflow refuses in metric and parameter names (``+`` of ``learner+naive``)."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def run_parameters(settings: Settings) -> dict[str, str]:
    """Return the settings that shape a model, flattened to ``section.key`` strings.

    Secrets and places (registry URL, serving, tracking) are left out.
    """
    sections = ("features", "split", "global_model", "local_models", "selection")
    dumped = settings.model_dump(mode="json", include={"seed", "objective", *sections})
    flat = _flatten(dumped)
    return {_NOT_IN_NAMES.sub("_", key): json.dumps(value)[:6000] for key, value in flat.items()}


def _numbers(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Return every finite number of a nested mapping, by dotted key (MLflow metrics)."""
    found: dict[str, float] = {}
    for key, value in tree.items():
        name = _NOT_IN_NAMES.sub("_", f"{prefix}{key}")
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value == value and abs(value) != float("inf"):
            found[name] = float(value)
        elif isinstance(value, dict):
            found.update(_numbers(value, f"{name}."))
    return found


def require_mlflow() -> None:
    """Check that MLflow can be imported, without importing it.

    Raises:
        ConfigError: MLflow is not installed (``tracking.mlflow_uri`` needs it).

    """
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "tracking.mlflow_uri is set but MLflow is not installed; install the extra "
            "(pip install -e '.[mlflow]') or unset tracking.mlflow_uri."
        )


def log_run_to_mlflow(
    settings: Settings,
    run_id: str,
    bundle: Path,
    metrics: dict[str, Any],
    evaluation: Path | None = None,
) -> str:
    """Log run ``run_id`` and register ``bundle`` as a new version of the MLflow model.

    Args:
        settings: The settings (``tracking.*`` and what the parameters are taken from).
        run_id: The glocal run id (the MLflow run's name and a tag).
        bundle: The run's verified bundle directory (becomes the model's artifact).
        metrics: The run's metrics (validation losses, counts): logged as metrics, and
            whole as ``metrics.json``.
        evaluation: An evaluation directory (``metrics.json``, plots, ``report.html``) to
            log as artifacts, if there is one.

    Returns:
        The registered model version's URI, ``models:/<name>/<version>``.

    Raises:
        ConfigError: ``tracking.mlflow_uri`` is set but MLflow is not installed.

    """
    require_mlflow()
    import mlflow

    tracking = settings.tracking
    mlflow.set_tracking_uri(tracking.mlflow_uri)
    mlflow.set_experiment(tracking.experiment)
    with mlflow.start_run(run_name=run_id) as active:
        mlflow.set_tags({"glocal.run_id": run_id, "glocal.objective": settings.objective})
        parameters = run_parameters(settings)
        names = sorted(parameters)
        for start in range(0, len(names), 100):  # MLflow takes 100 parameters per call
            mlflow.log_params({name: parameters[name] for name in names[start : start + 100]})
        mlflow.log_metrics(_numbers(metrics))
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "metrics.json"
            path.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str))
            mlflow.log_artifact(str(path))
        if evaluation is not None and evaluation.is_dir():
            mlflow.log_artifacts(str(evaluation), artifact_path="evaluation")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE),
            artifacts={"bundle": str(bundle)},
            registered_model_name=tracking.model_name,
        )
    version = info.registered_model_version
    uri = f"models:/{tracking.model_name}/{version}"
    _log.info("logged run %s to MLflow (%s); registered %s", run_id, active.info.run_id, uri)
    return uri
