"""Writing an evaluation: metrics.json, per-entity and per-row tables, plots and report.html."""

from __future__ import annotations

import time
from pathlib import Path

from glocal.core.atomic import atomic_path, write_json_atomic
from glocal.core.logging import get_logger
from glocal.evaluation.evaluate import Evaluation
from glocal.evaluation.plots import (
    plot_gain_vs_rows,
    plot_loss_distribution,
    plot_policies,
    plot_validation_scatter,
    plot_windows,
)
from glocal.evaluation.report import write_report

__all__ = ["write_evaluation"]

_log = get_logger("evaluation")


def write_evaluation(evaluation: Evaluation, directory: Path) -> dict[str, Path]:
    """Write every evaluation file into ``directory``.

    ``metrics.json``, ``entities.parquet`` (one row per entity), ``predictions.parquet``
    (one row per test row: ``entity_id, cutoff, target`` and one column per policy), the
    plots and a self-contained ``report.html``. Each file is written atomically,
    ``metrics.json`` last, so a reader that sees a new ``metrics.json`` also sees the
    matching tables and plots.
    """
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    metrics = evaluation.metrics
    objective = str(metrics.get("objective", "mse"))
    paths: dict[str, Path] = {
        "entities": directory / "entities.parquet",
        "predictions": directory / "predictions.parquet",
        "policies": directory / "policies.png",
        "windows": directory / "windows.png",
        "loss_distribution": directory / "loss_distribution.png",
        "validation_scatter": directory / "validation_scatter.png",
        "gain_vs_rows": directory / "gain_vs_rows.png",
        "report": directory / "report.html",
        "metrics": directory / "metrics.json",
    }
    with atomic_path(paths["entities"]) as tmp:
        evaluation.entities.to_parquet(tmp, index=False)
    with atomic_path(paths["predictions"]) as tmp:
        evaluation.predictions.to_parquet(tmp, index=False)
    plot_policies(metrics, paths["policies"])
    windows = metrics.get("windows") or []
    if len(windows) > 1:
        plot_windows(windows, objective, paths["windows"])
    else:
        paths.pop("windows")
        (directory / "windows.png").unlink(missing_ok=True)
    plot_loss_distribution(evaluation.entities, paths["loss_distribution"], objective)
    plot_validation_scatter(evaluation.entities, paths["validation_scatter"], objective)
    plot_gain_vs_rows(evaluation.entities, paths["gain_vs_rows"], objective)
    metrics["timings_s"]["report"] = round(time.perf_counter() - start, 3)
    plots: dict[str, Path] = {
        name: paths[name]
        for name in (
            "policies",
            "windows",
            "loss_distribution",
            "validation_scatter",
            "gain_vs_rows",
        )
        if name in paths
    }
    write_report(metrics, plots, paths["report"])
    write_json_atomic(paths["metrics"], metrics)
    _log.info("wrote %s", ", ".join(p.name for p in paths.values()))
    return paths
