"""Error metrics per policy, overall and per entity."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["overall_errors", "per_entity_errors"]


def overall_errors(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Return ``{"mse", "mae", "rows"}`` of one policy's predictions."""
    error = np.asarray(prediction, dtype=float) - np.asarray(target, dtype=float)
    return {
        "mse": float(np.mean(error**2)),
        "mae": float(np.mean(np.abs(error))),
        "rows": int(error.size),
    }


def per_entity_errors(
    entity_ids: pd.Series, target: np.ndarray, predictions: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Return one row per entity: ``n_test`` and ``test_mse_<policy>``/``test_mae_<policy>``."""
    columns: dict[str, np.ndarray | pd.Series] = {"entity_id": entity_ids.to_numpy()}
    for policy, prediction in predictions.items():
        error = np.asarray(prediction, dtype=float) - np.asarray(target, dtype=float)
        columns[f"test_mse_{policy}"] = error**2
        columns[f"test_mae_{policy}"] = np.abs(error)
    frame = pd.DataFrame(columns)
    grouped = frame.groupby("entity_id", sort=True, observed=True)
    result = grouped.mean()
    result.insert(0, "n_test", grouped.size())
    return result.reset_index()
