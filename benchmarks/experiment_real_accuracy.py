"""Real-data accuracy: global LightGBM vs hybrid vs local-only on UCI Online Retail.

Builds the default weekly panel (30-day spend target), splits it with the default split
(train | gap | 56-day validation | gap | 28-day test), fits HybridModel and prints test MSE
and MAE of each variant plus the decision counts.

Usage: .venv/bin/python benchmarks/experiment_real_accuracy.py [--cache /tmp/real_panel.parquet]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from glocal.config.data import CleaningSettings, ColumnsSettings
from glocal.config.features import FeatureSettings, SplitSettings
from glocal.config.models import GlobalModelSettings, LocalModelSettings, SelectionSettings
from glocal.data import clean_transactions, read_transactions
from glocal.features import build_panel, split_panel
from glocal.models import GlobalModel, HybridModel, LocalModelBank

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail.parquet"


def load_panel(cache: Path | None) -> pd.DataFrame:
    if cache is not None and cache.is_file():
        return pd.read_parquet(cache)
    raw = read_transactions(DATA, ColumnsSettings())
    clean, _ = clean_transactions(raw, CleaningSettings())
    panel = build_panel(clean, FeatureSettings())
    if cache is not None:
        panel.to_parquet(cache)
    return panel


def scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    return float(np.mean((y - p) ** 2)), float(np.mean(np.abs(y - p)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--lags", type=int, default=None)
    parser.add_argument("--no-entity-feature", action="store_true")
    args = parser.parse_args()
    panel = load_panel(args.cache)
    split = split_panel(panel, SplitSettings(), FeatureSettings().horizon_days)
    train, validation, test = split.train, split.validation, split.test
    print(
        f"panel {panel.shape}, train {len(train)}, validation {len(validation)}, test {len(test)}"
    )
    y = test["target"].to_numpy()
    selection = SelectionSettings()
    if args.lags is not None:
        selection = selection.model_copy(update={"dependence_lags": args.lags})
    global_settings = GlobalModelSettings(entity_feature=not args.no_entity_feature)

    start = time.perf_counter()
    model = HybridModel(global_settings, LocalModelSettings(), selection, seed=42)
    model.fit(train, validation)
    fit_seconds = time.perf_counter() - start
    out = model.predict(test)
    rows = {
        "hybrid's global component": scores(y, out["global_prediction"].to_numpy()),
        "hybrid": scores(y, out["prediction"].to_numpy()),
        "local-only (best candidate, else global)": scores(
            y, out["local_prediction"].fillna(out["global_prediction"]).to_numpy()
        ),
    }

    plain = GlobalModel(GlobalModelSettings(), seed=42).fit(train, validation)
    rows["global (LightGBM alone, panel features)"] = scores(y, plain.predict(test))
    with_id = [*model.feature_columns_, "entity_id"]
    categorical = [*model.categorical_columns_, "entity_id"]
    gid = GlobalModel(GlobalModelSettings(), seed=42).fit(train, validation, with_id, categorical)
    rows["global_with_entity_id"] = scores(y, gid.predict(test))

    seed_bank = LocalModelBank.unregularized(min_train_rows=20).fit(
        pd.concat([train, validation]), feature_columns=model.local_feature_columns_
    )
    seed_pred = seed_bank.predict(test)
    rows["seed recipe (OLS per customer >= 20 rows, always local)"] = scores(
        y, np.where(np.isnan(seed_pred), out["global_prediction"], seed_pred)
    )

    base_mse, base_mae = rows["global (LightGBM alone, panel features)"]
    print(f"hybrid fit: {fit_seconds:.1f} s")
    print(f"{'model':58s} {'test MSE':>14s} {'vs global':>9s} {'test MAE':>9s} {'vs global':>9s}")
    for name, (mse, mae) in rows.items():
        mse_change, mae_change = mse / base_mse - 1, mae / base_mae - 1
        print(f"{name:58s} {mse:14,.0f} {mse_change:+9.2%} {mae:9.2f} {mae_change:+9.2%}")
    decisions = model.decisions_
    print(decisions["decision"].value_counts().to_string())
    print(decisions["reason"].value_counts().to_string())
    chosen = decisions[decisions["decision"] != "global"]
    print("candidates chosen:", chosen["candidate"].value_counts().to_dict())
    print("test rows by source:", out["source"].value_counts().to_dict())


if __name__ == "__main__":
    main()
