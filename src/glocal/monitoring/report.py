"""The monitoring report: one self-contained HTML page (plots embedded as base64 PNGs)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glocal.core.atomic import write_text_atomic
from glocal.evaluation.report import REPORT_STYLE, html_figure, html_table
from glocal.monitoring.live_error import error_line

__all__ = ["PLOT_CAPTIONS", "write_monitor_report"]

PLOT_CAPTIONS = {
    "error_over_time": "Served and shadow global loss, per realized prediction cutoff.",
    "entity_error": "Per-entity loss over the window against each entity's validation loss "
    "when the production run was trained (ECDF, log axis).",
    "local_win_rate": "Share of local or blend predictions closer to the actual than the "
    "shadow global one.",
    "psi": "Population stability index of every feature: the latest snapshot against the "
    "rows the production run was trained on.",
}


def _alerts(summary: dict[str, Any]) -> str:
    alerts = summary["alerts"]
    if not alerts:
        return "<p>No alert.</p>"
    rows = [[a["name"], float(a["value"]), float(a["threshold"]), a["message"]] for a in alerts]
    return html_table(["alert", "value", "threshold", "what it means"], rows)


def _worst(entities: pd.DataFrame, objective: str) -> str:
    if entities.empty:
        return "<p>No realized prediction yet.</p>"
    cut = entities["served_loss"].quantile(0.9)
    worst = entities.loc[entities["served_loss"] >= cut].sort_values("served_loss", ascending=False)
    top = worst.head(25)
    rows = [
        [str(entity), str(source), int(periods), float(served), float(global_), mark]
        for entity, source, periods, served, global_, mark in zip(
            top["entity_id"].astype(str),
            top["source"].astype(str),
            top["periods"].to_numpy(dtype=np.int64),
            top["served_loss"].to_numpy(dtype=np.float64),
            top["global_loss"].to_numpy(dtype=np.float64),
            np.where(top["demote"].to_numpy(dtype=bool), "yes", ""),
            strict=True,
        )
    ]
    head = ["entity", "source", "periods", f"served {objective}", f"global {objective}", "demoted"]
    return (
        f"<p>{len(worst):,} entities in the worst decile of served loss; the 25 worst:</p>"
        + html_table(head, rows)
    )


def write_monitor_report(
    summary: dict[str, Any], entities: pd.DataFrame, plots: dict[str, Path], target: Path
) -> None:
    """Write ``report.html``: alerts, the window's figures, the plots, the worst entities."""
    objective = summary["objective"]
    window = summary["window"]
    figures = [html_figure(path, PLOT_CAPTIONS[name]) for name, path in plots.items()]
    key_rows = [
        ["monitoring date", summary["monitor_date"]],
        ["production run", summary["production_run_id"]],
        ["window", f"{window['start']} to {window['end']}"],
        ["realized predictions in the window", window["rows"]],
        ["entities with a realized prediction", window["entities"]],
        [f"{objective.upper()} in the window", error_line(window, objective)],
        ["entities demoted now", summary["demoted"]],
    ]
    checks = summary["data_checks"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>glocal monitor {html.escape(summary['monitor_date'])}</title>",
        f"<style>{REPORT_STYLE}</style></head><body>",
        f"<h1>glocal monitor, {html.escape(summary['monitor_date'])}</h1>",
        "<h2>Alerts</h2>",
        _alerts(summary),
        "<h2>Live error</h2>",
        html_table(["", "value"], [[k, "" if v is None else v] for k, v in key_rows]),
        *figures,
        "<h2>Worst decile</h2>",
        _worst(entities, objective),
        "<h2>Data checks</h2>",
        html_table(["check", "value"], [[k, "" if v is None else v] for k, v in checks.items()]),
        "</body></html>",
    ]
    write_text_atomic(target, "\n".join(parts))
