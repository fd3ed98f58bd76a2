"""Tracking layer: each run logged to MLflow, its bundle registered as one pyfunc model.

* :func:`log_run_to_mlflow` logs a registered run (parameters, aggregate metrics,
  ``metrics.json``, the evaluation report when there is one) and registers the bundle as
  a version of one MLflow model (``tracking.model_name``), never one model per entity;
* :data:`PYFUNC_CODE` is the pyfunc's model code (MLflow "models from code": nothing is
  pickled; the bundle's LightGBM text, Parquet and JSON files are its artifacts).

MLflow is optional (``pip install -e '.[mlflow]'``): it is imported only when
``tracking.mlflow_uri`` is set.
"""

from __future__ import annotations

from glocal.tracking.mlflow_runs import (
    PYFUNC_CODE,
    log_run_to_mlflow,
    require_mlflow,
    run_parameters,
)

__all__ = ["PYFUNC_CODE", "log_run_to_mlflow", "require_mlflow", "run_parameters"]
