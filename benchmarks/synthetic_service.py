"""A workspace whose production run serves a synthetic panel of many entities.

For ``bench_serve.py``'s 1M-entity figures: a full :class:`HybridModel` (LightGBM global
stage, every local candidate kind, per-entity selection with a lenient test so that many
entities are served locally) is fitted on a synthetic panel, written as a bundle,
recorded, promoted, and each entity's last row becomes the latest snapshot. These are
the public calls ``glocal run`` makes; only the panel comes from the generator instead of
transactions.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from glocal.config import Workspace
from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, LocalModelSettings, SelectionSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.features import write_panel
from glocal.models import HybridModel
from glocal.registry import BundleMetadata, Registry, new_run_id, write_bundle

__all__ = ["build_synthetic_workspace"]


def build_synthetic_workspace(root: Path, entities: int) -> tuple[Workspace, dict[str, object]]:
    """Fit, publish and promote a hybrid model of ``entities`` entities under ``root``."""
    began = time.perf_counter()
    workspace = Workspace(root)
    workspace.init()
    panel, _ = make_synthetic_panel(
        entities,
        14,
        5,
        heterogeneity=1.0,
        noise=0.5,
        seed=0,
        heterogeneous_fraction=0.3,
        few_rows_fraction=0.1,
        missing_rate=0.01,
    )
    last = np.sort(panel["cutoff"].unique())[-1]
    history = panel[panel["cutoff"] < last]
    latest = panel.sort_values("cutoff").groupby("entity_id", sort=False).tail(1)
    model = HybridModel(
        global_model=GlobalModelSettings(
            params={"n_estimators": 100, "learning_rate": 0.1}, entity_feature=False
        ),
        local_models=LocalModelSettings(min_train_rows=4),
        selection=SelectionSettings(
            multiple_testing="none", significance=0.5, dependence_lags=0, min_validation_rows=3
        ),
        split=SplitSettings(validation_days=21, folds=2),
        horizon_days=7,
        seed=0,
    ).fit(history)
    fit_seconds = time.perf_counter() - began
    write_panel(workspace, "synthetic", history, latest.assign(target=np.nan), "synthetic")
    run_id = new_run_id()
    metadata = BundleMetadata(data_version="synthetic", settings=workspace.settings())
    bundle = write_bundle(workspace, run_id, model, metadata)
    with Registry.open(None, workspace) as registry:
        registry.record_bundle(bundle)
        registry.promote(run_id)
    facts: dict[str, object] = {
        "entities": int(model.decisions_["entity_id"].nunique()),
        "served_locally": int((model.decisions_["decision"] != "global").sum()),
        "panel_rows": len(history),
        "fit_seconds": fit_seconds,
        "run_id": run_id,
    }
    return workspace, facts
