"""The monitoring plots, drawn on pyplot-free matplotlib figures (no GUI, no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from glocal.evaluation.plots import save_figure

__all__ = [
    "plot_entity_error_distribution",
    "plot_error_over_time",
    "plot_local_win_rate",
    "plot_psi",
]


def plot_error_over_time(
    series: pd.DataFrame, objective: str, target: Path, cutoff: str = "cutoff"
) -> None:
    """Plot the served, shadow global and baseline losses per realized cutoff (``cutoff``)."""
    figure = Figure(figsize=(8, 3.6))
    axes = figure.subplots()
    name = objective.upper()
    series = series.loc[series[cutoff].notna()]
    axes.plot(series[cutoff], series[f"{objective}_served"], marker="o", label="served")
    axes.plot(
        series[cutoff],
        series[f"{objective}_global"],
        marker="s",
        linestyle="--",
        label="shadow global",
    )
    for baseline, style in (("naive", ":"), ("btyd", "-.")):
        column = f"{objective}_{baseline}"
        if column in series.columns and series[column].notna().any():
            axes.plot(series[cutoff], series[column], linestyle=style, label=baseline)
    axes.set_xlabel("prediction cutoff (realized)")
    axes.set_ylabel(name)
    axes.set_title(f"Served against shadow global {name} and the baselines, per cutoff")
    axes.legend(frameon=False)
    figure.autofmt_xdate()
    save_figure(figure, target)


def plot_entity_error_distribution(
    live: pd.Series, validation: pd.Series, objective: str, target: Path
) -> None:
    """Plot the ECDF of per-entity live loss against each entity's validation loss."""
    figure = Figure(figsize=(8, 3.6))
    axes = figure.subplots()
    for values, label, style in (
        (live, "live (window, served)", "-"),
        (validation, "validation at training", "--"),
    ):
        clean = np.sort(values.to_numpy(dtype=np.float64))
        clean = clean[np.isfinite(clean)]
        if len(clean) == 0:
            continue
        shifted = clean + max(float(np.min(clean[clean > 0], initial=1.0)) * 0.5, 1e-9)
        axes.step(
            shifted,
            np.arange(1, len(clean) + 1) / len(clean),
            style,
            where="post",
            label=f"{label} ({len(clean):,} entities)",
        )
    axes.set_xscale("log")
    axes.set_xlabel(f"per-entity {objective.upper()} (log)")
    axes.set_ylabel("share of entities")
    axes.set_title("Per-entity error: live against the evaluation baseline")
    axes.legend(frameon=False)
    save_figure(figure, target)


def plot_local_win_rate(series: pd.DataFrame, target: Path) -> None:
    """Plot the share of local/blend predictions that beat the shadow global one."""
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    shown = series.loc[series["local_rows"] > 0]
    axes.plot(shown["cutoff"], shown["local_win_rate"], marker="o", color="#d62728")
    axes.axhline(0.5, color="#7f7f7f", linewidth=0.8, linestyle=":")
    axes.set_ylim(0, 1)
    axes.set_xlabel("prediction cutoff (realized)")
    axes.set_ylabel("local wins")
    axes.set_title("Local win rate: local or blend served and closer than global")
    figure.autofmt_xdate()
    save_figure(figure, target)


def plot_psi(psi: dict[str, float], threshold: float, target: Path) -> None:
    """Plot the PSI of every feature against the training baseline, largest on top."""
    ordered = sorted(psi.items(), key=lambda item: item[1])
    figure = Figure(figsize=(8, max(2.5, 0.22 * len(ordered) + 1)))
    axes = figure.subplots()
    names = [name for name, _ in ordered]
    values = [value for _, value in ordered]
    colours = ["#d62728" if v > threshold else "#1f77b4" for v in values]
    axes.barh(names, values, color=colours)
    axes.axvline(threshold, color="#d62728", linestyle="--", linewidth=1, label="alert")
    axes.set_xlabel("PSI against the training baseline")
    axes.set_title("Feature drift")
    axes.tick_params(axis="y", labelsize=7)
    axes.legend(frameon=False, loc="lower right")
    save_figure(figure, target)


def plot_backtest_activity(periods: pd.DataFrame, target: Path) -> None:
    """Plot a backtest's retraining per period, its local share and its demotions."""
    figure = Figure(figsize=(8, 4.2))
    top, bottom = figure.subplots(2, 1, sharex=True)
    colours = np.where(periods["global_retrained"], "#d62728", "#1f77b4")
    top.bar(periods["date"], periods["entities_retrained"], width=4, color=colours)
    top.set_ylabel("retrained")
    top.set_title("Entities retrained per period (red: the global model too)")
    scored = max(int(periods["entities_scored"].max()), 1)
    bottom.plot(periods["date"], periods["local_share"], marker="o", label="local share")
    bottom.bar(
        periods["date"], periods["demoted"] / scored, width=4, color="#7f7f7f",
        label="demoted (share)",
    )  # fmt: skip
    bottom.set_ylabel("share of entities")
    bottom.set_xlabel("replayed date")
    bottom.legend(frameon=False)
    figure.autofmt_xdate()
    save_figure(figure, target)
