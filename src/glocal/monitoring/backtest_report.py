"""The backtest report: what the daily routine would have done, period by period."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

import pandas as pd

from glocal.core.atomic import write_text_atomic
from glocal.evaluation.report import REPORT_STYLE, html_figure, html_table
from glocal.monitoring.live_error import error_line
from glocal.monitoring.plots import plot_backtest_activity, plot_error_over_time

__all__ = ["write_backtest_report"]


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
    means = error_line(realized.mean(numeric_only=True).to_dict(), objective)
    with tempfile.TemporaryDirectory() as scratch:
        error_png, activity_png = Path(scratch) / "error.png", Path(scratch) / "activity.png"
        figures = []
        if len(realized):
            plot_error_over_time(periods, objective, error_png, cutoff="realized_cutoff")
            figures.append(html_figure(error_png, "Served and shadow global loss per period."))
        plot_backtest_activity(periods, activity_png)
        figures.append(html_figure(activity_png, "Retraining, local share and demotions."))
        first, last = periods["date"].min().date(), periods["date"].max().date()
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>glocal backtest {first} to {last}</title>",
            f"<style>{REPORT_STYLE}</style></head><body>",
            f"<h1>glocal backtest, {first} to {last}</h1>",
            f"<p>{len(periods)} replayed dates; over the {len(realized)} periods with realized "
            f"predictions the mean {objective.upper()} is: {html.escape(means)}.</p>",
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
