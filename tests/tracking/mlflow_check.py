"""Run in the mlflow virtualenv by test_mlflow.py: a tracked run, then the model read back.

Usage: python mlflow_check.py DATA_FILE SCRATCH_DIR
       python mlflow_check.py --evaluation SCRATCH_DIR

It runs `glocal run` on DATA_FILE in SCRATCH_DIR/ws with tracking.mlflow_uri pointing at a
SQLite store in SCRATCH_DIR, loads ``models:/glocal/1`` with ``mlflow.pyfunc.load_model``,
predicts the run's latest snapshot with it, and prints one line of JSON comparing that
with the run's own daily predictions. With ``--evaluation`` it runs on demo data after
``glocal evaluate`` and prints the evaluation artifacts the MLflow run holds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def main() -> None:
    data, scratch = Path(sys.argv[1]), Path(sys.argv[2])
    os.chdir(scratch)  # MLflow's artifact store defaults to the working directory
    uri = f"sqlite:///{scratch / 'mlflow.db'}"
    root = scratch / "ws"
    from glocal.cli.main import main as glocal

    assert glocal(["init", str(root)]) == 0
    (root / "config" / "settings.yaml").write_text(f"tracking:\n  mlflow_uri: {uri}\n")
    assert glocal(["run", "-w", str(root), "--data", str(data)]) == 0

    import mlflow

    from glocal.config import Workspace
    from glocal.pipeline.predict import latest_snapshot

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/glocal/1")
    snapshot = latest_snapshot(Workspace(root))
    served = model.predict(snapshot)
    daily = sorted((root / "predictions" / "daily").glob("*.parquet"))[-1]
    own = pd.read_parquet(daily)
    client = mlflow.MlflowClient()
    version = client.get_model_version("glocal", "1")
    run = client.get_run(version.run_id)
    artifacts = [a.path for a in client.list_artifacts(version.run_id)]
    # what loading the model reads: its MLmodel, code and the bundle, and no pickle
    local = Path(mlflow.artifacts.download_artifacts("models:/glocal/1"))
    files = [f for f in local.rglob("*") if f.is_file()]
    pickles = [f.name for f in files if f.suffix in (".pkl", ".pickle", ".joblib", ".cloudpickle")]
    loader = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    same = {
        column: bool(
            np.array_equal(served[column].to_numpy(), own[column].to_numpy(), equal_nan=True)
        )
        for column in ("prediction", "global_prediction", "local_prediction")
    }
    print(
        json.dumps(
            {
                "rows": len(served),
                "same": same,
                "same_source": bool(
                    (served["source"].to_numpy() == own["source"].to_numpy()).all()
                ),
                "entities_equal": bool(
                    (snapshot["entity_id"].astype(str).to_numpy() == own["entity_id"]).all()
                ),
                "glocal_run_id": run.data.tags.get("glocal.run_id"),
                "production": own["run_id"].iloc[0],
                "params": len(run.data.params),
                "metrics": sorted(run.data.metrics)[:50],
                "artifacts": artifacts,
                "pickles": pickles,
                "loader_module": loader.get("loader_module"),
                "python_model": loader.get("python_model"),
            }
        )
    )


def with_evaluation(scratch: Path) -> None:
    """Demo data: `glocal evaluate`, then a run; print the MLflow run's artifact paths."""
    os.chdir(scratch)
    uri = f"sqlite:///{scratch / 'mlflow.db'}"
    root = scratch / "ws"
    from glocal.cli.main import main as glocal

    assert glocal(["init", str(root)]) == 0
    (root / "config" / "settings.yaml").write_text(
        f"tracking:\n  mlflow_uri: {uri}\npipeline:\n  demo_customers: 150\n"
    )
    assert glocal(["run", "-w", str(root)]) == 0
    assert glocal(["evaluate", "-w", str(root)]) == 0
    assert glocal(["run", "-w", str(root), "--retrain-global"]) == 0

    import mlflow

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    version = client.get_model_version("glocal", "2")
    paths = [a.path for a in client.list_artifacts(version.run_id, "evaluation")]
    print(json.dumps({"evaluation": sorted(Path(p).name for p in paths)}))


if __name__ == "__main__":
    if sys.argv[1] == "--evaluation":
        with_evaluation(Path(sys.argv[2]))
    else:
        main()
