"""The evaluation plots, drawn on pyplot-free matplotlib figures (no GUI, no global state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from glocal.core.atomic import atomic_path

__all__ = [
    "plot_gain_vs_rows",
    "plot_loss_distribution",
    "plot_policies",
    "plot_validation_scatter",
    "plot_windows",
    "save_figure",
]

_DECISION_COLOURS = {"global": "#7f7f7f", "local": "#d62728", "blend": "#1f77b4"}
_POLICY_ORDER = (
    "naive",
    "btyd",
    "global",
    "global_with_entity_id",
    "global_stage",
    "hybrid",
    "local_only",
    "seed_recipe",
    "entity_oracle",
)
_REFERENCES = ("seed_recipe", "entity_oracle")
_POLICY_STYLES: dict[str, dict[str, Any]] = {
    "naive": {"color": "#1f77b4"},
    "btyd": {"color": "#ff7f0e"},
    "global_with_entity_id": {"color": "#9467bd"},
    "global_stage": {"color": "#8c564b", "linestyle": "--"},
    "local_only": {"color": "#7f7f7f", "linestyle": ":"},
    "hybrid": {"color": "#2ca02c", "linewidth": 2.8},
}
_BASELINES = ("naive", "btyd", "global", "global_with_entity_id")


def save_figure(figure: Figure, target: Path) -> None:
    """Write ``figure`` as a PNG to ``target`` atomically (the size every report uses)."""
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_policies(metrics: dict[str, Any], target: Path) -> None:
    """Each policy's test loss relative to the best baseline, as horizontal bars."""
    objective = str(metrics.get("objective", "mse"))
    losses = {
        name: float(values[objective])
        for name, values in metrics["policies"].items()
        if name != "seed_recipe"
    }
    baselines = [losses[name] for name in _BASELINES if name in losses]
    reference = min(baselines) if baselines else max(losses.values())
    names = [name for name in _POLICY_ORDER if name in losses][::-1]
    ratios = [losses[name] / reference if reference else 1.0 for name in names]
    colours = [
        "#2ca02c" if name == "hybrid" else "#bbbbbb" if name in _REFERENCES else "#1f77b4"
        for name in names
    ]
    figure = Figure(figsize=(8, 0.45 * len(names) + 1.2))
    axis = figure.subplots()
    axis.barh(names, ratios, color=colours)
    axis.axvline(1.0, color="black", linewidth=0.8)
    for y, ratio in enumerate(ratios):
        axis.text(ratio, y, f" {ratio:.3f}", va="center", fontsize=8)
    axis.set_xlim(0, max(ratios) * 1.15)
    axis.set_xlabel(f"test {objective.upper()} ÷ the best of naive, btyd and the global models")
    axis.set_title("Test loss by policy (left of the line beats every baseline)")
    axis.grid(True, axis="x", alpha=0.25)
    save_figure(figure, target)


def plot_windows(windows: list[dict[str, Any]], objective: str, target: Path) -> None:
    """Each policy's test loss ÷ the global model's, in each evaluation window."""
    figure = Figure(figsize=(8, 4.8))
    axis = figure.subplots()
    ordered = sorted(windows, key=lambda window: window["test"]["start"])
    labels = [window["test"]["start"] for window in ordered]
    names = [p for p in _POLICY_ORDER if p not in _REFERENCES and p != "global"]
    for name in names:
        ratios = [
            window["policies"][name][objective] / window["policies"]["global"][objective]
            if name in window["policies"] and window["policies"]["global"][objective]
            else np.nan
            for window in ordered
        ]
        if np.all(np.isnan(ratios)):
            continue
        style = {"linewidth": 1.3, **_POLICY_STYLES.get(name, {})}
        axis.plot(labels, ratios, marker="o", label=name, **style)
    axis.axhline(1.0, color="black", linewidth=0.8, label="global")
    axis.set_xlabel("first cutoff of the test window")
    axis.set_ylabel(f"test {objective.upper()} ÷ global")
    axis.set_title("Every policy against the global model, window by window (lower is better)")
    axis.grid(True, alpha=0.25)
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    save_figure(figure, target)


def plot_loss_distribution(entities: pd.DataFrame, target: Path, objective: str = "mse") -> None:
    """Per-entity test loss of each policy as ECDF curves on a log axis."""
    figure = Figure(figsize=(8, 4.8))
    axis = figure.subplots()
    policies = [p for p in _POLICY_ORDER if f"test_{objective}_{p}" in entities.columns]
    tested = entities[entities["n_test"] > 0]
    for policy in policies:
        values = np.sort(tested[f"test_{objective}_{policy}"].to_numpy(dtype=float))
        values = np.clip(values, 1e-2, None)
        share = np.arange(1, values.size + 1) / max(values.size, 1)
        style = "--" if policy in _REFERENCES else "-"
        axis.step(values, share, where="post", linestyle=style, label=policy, linewidth=1.6)
    name = objective.upper()
    axis.set_xscale("log")
    axis.set_xlabel(f"per-entity test {name} (log scale)")
    axis.set_ylabel(f"share of entities with {name} ≤ x")
    axis.set_title(f"Distribution of per-entity test {name} by policy (further left is better)")
    axis.grid(True, which="both", alpha=0.25)
    axis.legend(loc="lower right", fontsize=8)
    save_figure(figure, target)


def plot_validation_scatter(decisions: pd.DataFrame, target: Path, objective: str = "mse") -> None:
    """Local against global validation loss per entity (pooled folds), by decision."""
    figure = Figure(figsize=(6.2, 6))
    axis = figure.subplots()
    frame = decisions.dropna(subset=["val_mse_global", "val_mse_local"])
    floor = 1e-2
    for decision, colour in _DECISION_COLOURS.items():
        part = frame[frame["decision"] == decision]
        if part.empty:
            continue
        axis.scatter(
            np.clip(part["val_mse_global"], floor, None),
            np.clip(part["val_mse_local"], floor, None),
            s=9,
            alpha=0.55 if decision == "global" else 0.85,
            color=colour,
            label=f"{decision} ({len(part)})",
        )
    if not frame.empty:
        low = max(floor, float(frame[["val_mse_global", "val_mse_local"]].min().min()))
        high = float(frame[["val_mse_global", "val_mse_local"]].max().max())
        axis.plot([low, high], [low, high], color="black", linewidth=0.8, label="equal error")
    axis.set_xscale("log")
    axis.set_yscale("log")
    name = objective.upper()
    axis.set_xlabel(f"validation {name}, global stage (all folds)")
    axis.set_ylabel(f"validation {name}, best local candidate")
    axis.set_title("Below the line, local did better on validation")
    axis.grid(True, which="both", alpha=0.25)
    axis.legend(fontsize=8)
    save_figure(figure, target)


def plot_gain_vs_rows(entities: pd.DataFrame, target: Path, objective: str = "mse") -> None:
    """Test-loss gain of the hybrid over its global stage per entity, against its rows."""
    figure = Figure(figsize=(8, 4.8))
    axis = figure.subplots()
    tested = entities[(entities["n_test"] > 0) & entities["n_train"].notna()]
    gain = tested[f"test_{objective}_global_stage"] - tested[f"test_{objective}_hybrid"]
    for decision, colour in _DECISION_COLOURS.items():
        mask = tested["decision"] == decision
        if not mask.any():
            continue
        axis.scatter(
            tested.loc[mask, "n_train"],
            gain[mask],
            s=9,
            alpha=0.4 if decision == "global" else 0.85,
            color=colour,
            label=decision,
        )
    by_rows = gain.groupby(tested["n_train"]).mean()
    if len(by_rows) > 1:
        axis.plot(
            by_rows.index,
            by_rows.to_numpy(),
            color="black",
            linewidth=1.5,
            label="mean gain at that many rows",
        )
    axis.axhline(0, color="black", linewidth=0.8)
    nonzero = np.abs(gain[gain != 0].to_numpy(dtype=float))
    linthresh = float(np.quantile(nonzero, 0.25)) if nonzero.size else 1.0
    axis.set_yscale("symlog", linthresh=max(linthresh, 1e-6))
    axis.set_xlabel("history rows of the entity")
    axis.set_ylabel(f"test {objective.upper()} gain over the global stage (symlog; > 0 better)")
    axis.set_title("Where the per-entity choice gains or loses against the global stage")
    axis.grid(True, alpha=0.25)
    axis.legend(fontsize=8)
    save_figure(figure, target)
