"""The daily glocal routine as an Airflow DAG: one task per step, each a ``glocal`` command.

ingest -> features -> train (local models of the entities whose data changed; the global
model only when due) -> promote -> predict (batch) -> monitor.

Every task runs the ``glocal`` command line of the workspace, so Airflow and glocal live in
virtualenvs of their own (Airflow pins an older FastAPI than glocal's service). The run's
logical date is the as-of date: ``glocal run --as-of {{ ds }}`` uses only transactions
before it and stamps everything with it, so a backfill replays history exactly as
``glocal backtest`` does. ``train`` registers the new run without promoting it and passes
its run id to ``promote`` (XCom); when nothing needed retraining, ``promote`` does nothing.
``monitor`` exits with code 1 when an alert fires: the task fails, and its log holds the
alerts (what drifted, by how much, and what to do).

Environment (set on the workers, or in the DAG's ``params``):

* ``GLOCAL_BIN``: the ``glocal`` executable (default: ``glocal`` on the PATH);
* ``GLOCAL_WORKSPACE``: the workspace directory (created by ``glocal init``);
* ``GLOCAL_DATA``: the transaction file the feed drops (read by ``ingest``).
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

GLOCAL = os.environ.get("GLOCAL_BIN", "glocal")
WORKSPACE = os.environ.get("GLOCAL_WORKSPACE", "/srv/glocal")
DATA = os.environ.get("GLOCAL_DATA", "/srv/feed/transactions.parquet")

# the train task prints the run's summary as JSON: the XCom is the new run id, or "none"
RUN_ID = '| python3 -c \'import json, sys; print(json.load(sys.stdin)["run_id"] or "none")\''


def glocal(arguments: str) -> str:
    """Return the shell command running ``glocal ARGUMENTS`` on the workspace."""
    return f'"{GLOCAL}" {arguments} -w "{WORKSPACE}"'


with DAG(
    dag_id="glocal_daily",
    description="glocal: ingest, features, retrain, promote, predict, monitor",
    schedule="@daily",
    start_date=dt.datetime(2011, 6, 1),
    catchup=False,
    max_active_runs=1,  # one run per workspace at a time (the workspace lock agrees)
    default_args={"retries": 0},
    tags=["glocal"],
) as dag:
    ingest = BashOperator(task_id="ingest", bash_command=glocal(f'ingest "{DATA}"'))
    features = BashOperator(
        task_id="features", bash_command=glocal("run --stop-after features --as-of {{ ds }}")
    )
    train = BashOperator(
        task_id="train",
        bash_command="set -o pipefail; "
        + glocal("run --stop-after register --as-of {{ ds }} --json")
        + f" {RUN_ID}",
        do_xcom_push=True,
    )
    promote = BashOperator(
        task_id="promote",
        bash_command=(
            "RUN='{{ ti.xcom_pull(task_ids=\"train\") }}'; "
            'if [ "$RUN" = none ]; then echo "nothing retrained: production unchanged"; '
            "else " + glocal('registry promote "$RUN"') + "; fi"
        ),
    )
    predict = BashOperator(task_id="predict", bash_command=glocal("predict"))
    monitor = BashOperator(task_id="monitor", bash_command=glocal("monitor --as-of {{ ds }}"))
    ingest >> features >> train >> promote >> predict >> monitor
