"""The backtest report: what the daily routine would have done, period by period."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from glocal.core.atomic import atomic_path, write_text_atomic
from glocal.evaluation.report import REPORT_STYLE, html_figure, html_table

__all__ = ["write_backtest_report"]


def _save(figure: Figure, target: Path) -> None:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def _plot_error(periods: pd.DataFrame, objective: str, target: Path) -> None:
    figure = Figure(figsize=(8, 3.6))
    axes = figure.subplots()
    shown = periods.loc[periods["realized_cutoff"].notna()]
    axes.plot(shown["realized_cutoff"], shown[f"{objective}_served"], marker="o", label="served")
    axes.plot(
        shown["realized_cutoff"],
        shown[f"{objective}_global"],
        marker="s",
        linestyle="--",
        label="shadow global",
    )
    axes.set_xlabel("prediction cutoff (realized at the replayed date)")
    axes.set_ylabel(objective.upper())
    axes.set_title(f"Served against shadow global {objective.upper()}, per period")
    axes.legend(frameon=False)
    figure.autofmt_xdate()
    _save(figure, target)


def _plot_activity(periods: pd.DataFrame, target: Path) -> None:
    figure = Figure(figsize=(8, 4.2))
    top, bottom = figure.subplots(2, 1, sharex=True)
    colours = np.where(periods["global_retrained"], "#d62728", "#1f77b4")
    top.bar(periods["date"], periods["entities_retrained"], width=4, color=colours)
    top.set_ylabel("retrained")
    top.set_title("Entities retrained per period (red: the global model too)")
    bottom.plot(periods["date"], periods["local_share"], marker="o", label="local share")
    bottom.bar(
        periods["date"],
        periods["demoted"] / max(periods["entities_scored"].max(), 1),
        width=4,
        color="#7f7f7f",
        label="demoted (share)",
    )
    bottom.set_ylabel("share of entities")
    bottom.set_xlabel("replayed date")
    bottom.legend(frameon=False)
    figure.autofmt_xdate()
    _save(figure, target)


def write_backtest_report(periods: pd.DataFrame, objective: str, target: Path) -> None:
    """Write the self-contained ``report.html`` of a backtest (plots embedded)."""
    realized = periods.loc[periods["realized_cutoff"].notna()]
    rows = []
    for record in periods.to_dict("records"):
        rows.append(
            [
                pd.Timestamp(record["date"]).date().isoformat(),
                str(record["run_id"]),
                int(record["entities_scored"]),
                int(record["entities_retrained"]),
                "yes" if record["global_retrained"] else "",
                ""
                if pd.isna(record[f"{objective}_served"])
                else float(record[f"{objective}_served"]),
                ""
                if pd.isna(record[f"{objective}_global"])
                else float(record[f"{objective}_global"]),
                float(record["local_share"]),
                int(record["demoted"]),
                str(record["alerts"]),
            ]
        )
    served = float(realized[f"{objective}_served"].mean()) if len(realized) else float("nan")
    global_ = float(realized[f"{objective}_global"].mean()) if len(realized) else float("nan")
    with tempfile.TemporaryDirectory() as scratch:
        error_png, activity_png = Path(scratch) / "error.png", Path(scratch) / "activity.png"
        figures = []
        if len(realized):
            _plot_error(periods, objective, error_png)
            figures.append(html_figure(error_png, "Served and shadow global loss per period."))
        _plot_activity(periods, activity_png)
        figures.append(html_figure(activity_png, "Retraining, local share and demotions."))
        first, last = periods["date"].min().date(), periods["date"].max().date()
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>glocal backtest {first} to {last}</title>",
            f"<style>{REPORT_STYLE}</style></head><body>",
            f"<h1>glocal backtest, {first} to {last}</h1>",
            f"<p>{len(periods)} replayed dates; over the {len(realized)} periods with realized "
            f"predictions the mean {objective.upper()} served is {served:,.2f} against "
            f"{global_:,.2f} for the shadow global model.</p>",
            *figures,
            "<h2>Periods</h2>",
            html_table(
                [
                    "date",
                    "run",
                    "scored",
                    "retrained",
                    "global",
                    f"{objective} served",
                    f"{objective} global",
                    "local share",
                    "demoted",
                    "alerts",
                ],
                rows,
            ),
            "</body></html>",
        ]
        write_text_atomic(target, "\n".join(parts))
