"""``glocal evaluate``: compare the hybrid model with every reference policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from glocal.cli.common import WorkspaceOption, open_workspace, stdout_console

__all__ = ["policy_table", "register"]


def policy_table(metrics: dict[str, Any]) -> Table:
    """Render the ``policies`` section of metrics.json, relative to the global model."""
    from glocal.evaluation import POLICIES

    base = metrics["policies"]["global"]
    table = Table(title="Test block by policy (lower is better)")
    for column in ("policy", "MSE", "MAE", "MSE vs global", "MAE vs global", "rows"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name in POLICIES:
        values = metrics["policies"].get(name)
        if values is None:
            continue
        mse_change = 100 * (values["mse"] / base["mse"] - 1) if base["mse"] else 0.0
        mae_change = 100 * (values["mae"] / base["mae"] - 1) if base["mae"] else 0.0
        table.add_row(
            name,
            f"{values['mse']:,.1f}",
            f"{values['mae']:,.2f}",
            f"{mse_change:+.2f}%",
            f"{mae_change:+.2f}%",
            f"{values['rows']:,}",
        )
    return table


def evaluate(
    workspace: WorkspaceOption = Path("."),
    seed_recipe: Annotated[
        bool,
        typer.Option(
            "--seed-recipe/--no-seed-recipe",
            help="Also fit the user's original recipe (a default random forest: slow).",
        ),
    ] = True,
) -> None:
    """Compare global, local and hybrid on the test block."""
    from glocal.cli.panel_source import load_workspace_panel
    from glocal.evaluation import evaluate_split, write_evaluation
    from glocal.features import split_panel

    ws, settings = open_workspace(workspace)
    panel, dataset = load_workspace_panel(ws, settings)
    split = split_panel(panel, settings.split, settings.features.horizon_days)
    evaluation = evaluate_split(split, settings, dataset, include_seed_recipe=seed_recipe)
    paths = write_evaluation(evaluation, ws.evaluation_dir)
    stdout_console.print(policy_table(evaluation.metrics))
    choices = ", ".join(f"{k}: {v:,}" for k, v in evaluation.metrics["choices"].items())
    stdout_console.print(f"Per-entity choices: {choices}", highlight=False)
    stdout_console.print(f"Report: {paths['report']}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("evaluate")(evaluate)
