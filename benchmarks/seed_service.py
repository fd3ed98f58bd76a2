"""The user's request path (``../shared/seed.md``), rebuilt faithfully for ``bench_serve.py``.

Its sections 1 and 2: a default ``RandomForestRegressor`` global model and one
``LinearRegression`` per customer with at least 20 rows, each pickled to
``local_models/models/{cust_id}.pkl``. Its section 3, ``predict(features, cust_id)``:
predict the global model, unpickle the customer's file, predict it. Its section 5: the same
behind a FastAPI ``POST /predict``. Only numeric features are given (the recipe's models
take no categorical column) and missing values are filled with 0 (its models reject NaN).
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

__all__ = ["SEED_APP", "build_seed_models", "seed_request_latencies"]

SEED_APP = """
import os
import pickle

from fastapi import FastAPI

ROOT = os.environ["SEED_ROOT"]
app = FastAPI()
global_model = pickle.load(open(f"{ROOT}/global_model.pkl", "rb"))


def load_local_model(cust_id):
    path = f"{ROOT}/local_models/models/{cust_id}.pkl"
    try:
        return pickle.load(open(path, "rb"))
    except:
        return None


@app.post("/predict")
def predict_api(payload: dict):
    cust_id = payload["customer_id"]
    features = payload["features"]
    local_model = load_local_model(cust_id)
    if local_model:
        return {"prediction": local_model.predict([features])[0]}
    else:
        return {"prediction": global_model.predict([features])[0]}
"""
"""The recipe's section 5, reading its pickles under ``$SEED_ROOT``."""


def build_seed_models(
    panel: pd.DataFrame,
    columns: list[str],
    root: Path,
    global_rows: int,
    customers: int | None,
) -> int:
    """Fit and pickle the recipe's global model and local models; return the local count."""
    panel = panel[panel["target"].notna()]  # the latest cutoffs have no label yet
    features = panel[columns].fillna(0.0)
    sample = features.sample(min(global_rows, len(features)), random_state=0)
    global_model = RandomForestRegressor(random_state=0)
    global_model.fit(sample.to_numpy(), panel.loc[sample.index, "target"].to_numpy())
    (root / "local_models" / "models").mkdir(parents=True, exist_ok=True)
    with (root / "global_model.pkl").open("wb") as handle:
        pickle.dump(global_model, handle)
    fitted = 0
    for cust_id, group in panel.groupby("entity_id", sort=False):
        if len(group) < 20:
            continue
        model = LinearRegression().fit(features.loc[group.index].to_numpy(), group["target"])
        with (root / "local_models" / "models" / f"{cust_id}.pkl").open("wb") as handle:
            pickle.dump(model, handle)
        fitted += 1
        if fitted == customers:
            break
    return fitted


def seed_request_latencies(root: Path, requests: list[tuple[list[float], str]]) -> np.ndarray:
    """Time the recipe's section-3 ``predict(features, cust_id)`` per request, in ms."""
    with (root / "global_model.pkl").open("rb") as handle:
        global_model = pickle.load(handle)  # the recipe's own file, timed on purpose

    def load_local_model(cust_id: str) -> LinearRegression | None:
        path = root / "local_models" / "models" / f"{cust_id}.pkl"
        try:
            with path.open("rb") as handle:
                model: LinearRegression = pickle.load(handle)
                return model
        except OSError:
            return None

    latencies = []
    for features, cust_id in requests:
        began = time.perf_counter()
        prediction = global_model.predict([features])[0]
        local_model = load_local_model(cust_id)
        if local_model is not None:
            prediction = local_model.predict([features])[0]
        latencies.append(time.perf_counter() - began)
        assert np.isfinite(prediction)
    return np.asarray(latencies) * 1e3
