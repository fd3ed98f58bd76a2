#!/usr/bin/env bash
# Create (if needed) a virtualenv with glocal and its mlflow extra, apart from glocal's own
# (MLflow 3 pins pyarrow < 26), and print its python on stdout. Used by .ci/run for the
# tests marked `mlflow`, which run the tracked pipeline and load the model there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${GLOCAL_MLFLOW_VENV:-.venv-mlflow}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mlflow, glocal" 2>/dev/null; then
  "${PYTHON:-python3}" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q -e ".[mlflow]" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
