"""The JSON export of the registry (``models/registry.json``).

One record per entity (customer) of the served run: its id, when its model was last
trained, and how the global and local models performed on its validation rows::

    {"run_id": "...", "alias": "production", "generated_at": "...", "entities": 2,
     "models": [{"customer_id": "12346", "last_trained": "2024-01-05T10:15:00+00:00",
                 "run_id": "...", "global_version_id": "gm-...", "carried_forward": false,
                 "performance": {"decision": "local", "candidate": "residual", "weight": 1.0,
                                 "reason": "LOCAL_BETTER", "n_train": 30, "n_val": 8,
                                 "val_mse_global": 12.5, "val_mse_local": 7.1}}, ...]}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from glocal.models import DECISION_COLUMNS
from glocal.registry.manifest import jsonable

__all__ = ["PERFORMANCE_COLUMNS", "export_payload"]

PERFORMANCE_COLUMNS = DECISION_COLUMNS[1 : DECISION_COLUMNS.index("p_value")]
"""Per-entity fields under ``performance`` in the export."""


def export_payload(
    entity_models: pd.DataFrame, run_id: str, alias: str | None, generated_at: dt.datetime
) -> dict[str, Any]:
    """Return the JSON document of ``entity_models`` (the rows of run ``run_id``)."""
    frame = entity_models.astype(object).where(entity_models.notna(), None)
    trained = pd.to_datetime(entity_models["trained_at"], utc=True)
    performance = frame.loc[:, list(PERFORMANCE_COLUMNS)].to_dict("records")
    models = [
        {
            "customer_id": str(entity),
            "last_trained": stamp.isoformat(),
            "run_id": run_id,
            "global_version_id": version,
            "carried_forward": bool(carried),
            "performance": perf,
        }
        for entity, stamp, version, carried, perf in zip(
            frame["entity_id"],
            trained,
            frame["global_version_id"],
            frame["carried_forward"],
            performance,
            strict=True,
        )
    ]
    return {
        "run_id": run_id,
        "alias": alias,
        "generated_at": generated_at.isoformat(),
        "entities": len(models),
        "models": jsonable(models),
    }
