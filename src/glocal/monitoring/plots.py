"""The monitoring plots, drawn on pyplot-free matplotlib figures (no GUI, no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from glocal.core.atomic import atomic_path

__all__ = [
    "plot_entity_error_distribution",
    "plot_error_over_time",
    "plot_local_win_rate",
    "plot_psi",
]


def _save(figure: Figure, target: Path) -> None:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_error_over_time(series: pd.DataFrame, objective: str, target: Path) -> None:
    """Plot the served and the shadow global loss per realized cutoff."""
    figure = Figure(figsize=(8, 3.6))
    axes = figure.subplots()
    name = objective.upper()
    axes.plot(series["cutoff"], series[f"{objective}_served"], marker="o", label="served")
    axes.plot(
        series["cutoff"],
        series[f"{objective}_global"],
        marker="s",
        linestyle="--",
        label="shadow global",
    )
    axes.set_xlabel("prediction cutoff (realized)")
    axes.set_ylabel(name)
    axes.set_title(f"Served against shadow global {name}, per cutoff")
    axes.legend(frameon=False)
    figure.autofmt_xdate()
    _save(figure, target)


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
    _save(figure, target)


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
    _save(figure, target)


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
    _save(figure, target)
