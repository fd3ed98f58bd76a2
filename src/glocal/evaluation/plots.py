"""The three evaluation plots, drawn on pyplot-free matplotlib figures (no GUI, no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from glocal.core.atomic import atomic_path

__all__ = ["plot_gain_vs_rows", "plot_mse_distribution", "plot_validation_scatter"]

_DECISION_COLOURS = {"global": "#7f7f7f", "local": "#d62728", "blend": "#1f77b4"}
_POLICY_ORDER = (
    "global",
    "hybrid",
    "global_with_entity_id",
    "local_only",
    "seed_recipe",
    "entity_oracle",
)


def _save(figure: Figure, target: Path) -> None:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_mse_distribution(entities: pd.DataFrame, target: Path) -> None:
    """Per-entity test MSE of each policy as ECDF curves on a log axis."""
    figure = Figure(figsize=(8, 4.8))
    axis = figure.subplots()
    policies = [p for p in _POLICY_ORDER if f"test_mse_{p}" in entities.columns]
    tested = entities[entities["n_test"] > 0]
    for policy in policies:
        values = np.sort(tested[f"test_mse_{policy}"].to_numpy(dtype=float))
        values = np.clip(values, 1e-2, None)
        share = np.arange(1, values.size + 1) / max(values.size, 1)
        style = "--" if policy in ("seed_recipe", "entity_oracle") else "-"
        axis.step(values, share, where="post", linestyle=style, label=policy, linewidth=1.6)
    axis.set_xscale("log")
    axis.set_xlabel("per-entity test MSE (log scale)")
    axis.set_ylabel("share of entities with MSE ≤ x")
    axis.set_title("Distribution of per-entity test MSE by policy (further left is better)")
    axis.grid(True, which="both", alpha=0.25)
    axis.legend(loc="lower right", fontsize=8)
    _save(figure, target)


def plot_validation_scatter(decisions: pd.DataFrame, target: Path) -> None:
    """Local against global validation MSE per entity, coloured by decision."""
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
    axis.set_xlabel("validation MSE, global model")
    axis.set_ylabel("validation MSE, best local candidate")
    axis.set_title("Below the line, local did better on validation")
    axis.grid(True, which="both", alpha=0.25)
    axis.legend(fontsize=8)
    _save(figure, target)


def plot_gain_vs_rows(entities: pd.DataFrame, target: Path) -> None:
    """Test-MSE gain of hybrid over global per entity against its number of training rows."""
    figure = Figure(figsize=(8, 4.8))
    axis = figure.subplots()
    tested = entities[(entities["n_test"] > 0) & entities["n_train"].notna()]
    gain = tested["test_mse_global"] - tested["test_mse_hybrid"]
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
    axis.set_xlabel("training rows of the entity")
    axis.set_ylabel("test MSE gain over global (symlog; > 0 is better)")
    axis.set_title("Where the hybrid gains or loses against the global model")
    axis.grid(True, alpha=0.25)
    axis.legend(fontsize=8)
    _save(figure, target)
