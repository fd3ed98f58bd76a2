#!/usr/bin/env bash
# Create (if needed) a virtualenv with Apache Airflow 3 for the DAG test, apart from
# glocal's own (Airflow pins an older FastAPI), and print its `airflow` executable on
# stdout. Used by .ci/run; the DAG's tasks call glocal's command line, not its modules.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${GLOCAL_AIRFLOW_VENV:-.venv-airflow}"
if [ ! -x "$venv/bin/airflow" ]; then
  "${PYTHON:-python3}" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q "apache-airflow>=3.1,<4" >&2
fi
echo "$(cd "$venv" && pwd)/bin/airflow"
