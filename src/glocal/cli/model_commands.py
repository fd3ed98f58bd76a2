"""``glocal evaluate``: compare the hybrid model with every reference policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from glocal.cli.common import WorkspaceOption, open_workspace, shown, stdout_console
from glocal.config import Settings, Workspace
from glocal.core.errors import ConfigError, WorkspaceError

__all__ = ["policy_table", "register"]


def _relative(value: float, base: float) -> str:
    return f"{100 * (value / base - 1):+.2f}%" if base else "n/a"


def policy_table(metrics: dict[str, Any]) -> Table:
    """Render the ``policies`` section of metrics.json, relative to the best baseline."""
    from glocal.evaluation import POLICIES

    objective = str(metrics.get("objective", "mse"))
    best = metrics["best_baseline"]
    base = metrics["policies"]["global"]
    table = Table(title=f"Test block by policy (objective {objective.upper()}; lower is better)")
    headers = ("policy", "MSE", "MAE", f"{objective.upper()} vs best baseline", "MSE vs global")
    for column in (*headers, "rows"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name in POLICIES:
        values = metrics["policies"].get(name)
        if values is None:
            continue
        table.add_row(
            f"[bold]{name}[/bold]" if name == "hybrid" else name,
            f"{values['mse']:,.1f}",
            f"{values['mae']:,.2f}",
            _relative(values[objective], best["loss"]),
            _relative(values["mse"], base["mse"]),
            f"{values['rows']:,}",
        )
    return table


def _build_panel_if_missing(workspace: Workspace, settings: Settings) -> None:
    """Build the panel as ``glocal features`` would when it is missing or older than the data.

    Nothing happens when there is nothing to build it from (no ingested data, or panel mode
    without a panel file): loading the panel then says what to run.
    """
    from glocal.cli.feature_commands import build_workspace_panel
    from glocal.data import latest_data_version, list_data_versions
    from glocal.features import read_current_panel

    if settings.panel.mode == "panel":
        if settings.panel.path is None:
            return
        try:
            read_current_panel(workspace)
            return
        except WorkspaceError:
            pass
    else:
        if not list_data_versions(workspace):
            return
        newest = latest_data_version(workspace).version
        try:
            if read_current_panel(workspace).data_version == newest:
                return
        except WorkspaceError:
            pass
    stdout_console.print(
        "No current feature panel: building it first (as `glocal features` does).",
        highlight=False,
    )
    build_workspace_panel(workspace, settings)


def evaluate(
    workspace: WorkspaceOption = Path("."),
    seed_recipe: Annotated[
        bool,
        typer.Option(
            "--seed-recipe/--no-seed-recipe",
            help="Also fit the user's original recipe (a default random forest: slow).",
        ),
    ] = True,
    windows: Annotated[
        int,
        typer.Option(
            "--windows",
            help="Repeat the comparison on this many consecutive test blocks going back in "
            "time (each with its own history and fits).",
        ),
    ] = 1,
) -> None:
    """Compare the hybrid with naive, BTYD and global models."""
    from glocal.cli.panel_source import load_workspace_panel, load_workspace_transactions
    from glocal.evaluation import evaluate_split, evaluate_windows, window_entry, write_evaluation
    from glocal.features import split_panel

    if windows < 1:
        raise ConfigError(f"--windows must be at least 1, got {windows}.")
    ws, settings = open_workspace(workspace)
    _build_panel_if_missing(ws, settings)
    panel, dataset = load_workspace_panel(ws, settings)
    transactions = load_workspace_transactions(ws, settings, dataset)
    split = split_panel(panel, settings.split, settings.features.horizon_days)
    if windows > 1:  # lay every window out first: an impossible one fails before any fit
        for window in range(1, windows):
            offset = window * settings.split.test_days
            split_panel(panel, settings.split, settings.features.horizon_days, offset_days=offset)
    evaluation = evaluate_split(
        split, settings, dataset, include_seed_recipe=seed_recipe, transactions=transactions
    )
    if windows > 1:
        predictions = {
            name: evaluation.predictions[name].to_numpy() for name in evaluation.metrics["policies"]
        }
        evaluation.metrics["windows"] = [
            window_entry(split, predictions),
            *evaluate_windows(panel, settings, range(1, windows), transactions),
        ]
    paths = write_evaluation(evaluation, ws.evaluation_dir)
    stdout_console.print(policy_table(evaluation.metrics))
    best = evaluation.metrics["best_baseline"]
    stdout_console.print(
        f"Hybrid {best['objective'].upper()} = {best['hybrid_ratio']:.3f} x the best baseline "
        f"({best['policy']}).",
        highlight=False,
    )
    for name, note in evaluation.metrics["notes"].items():
        if note.startswith("skipped"):
            stdout_console.print(f"{name}: {note}", highlight=False, markup=False)
    choices = ", ".join(f"{k}: {v:,}" for k, v in evaluation.metrics["choices"].items())
    stdout_console.print(f"Per-entity choices: {choices}", highlight=False)
    stdout_console.print(f"Report: {shown(ws, paths['report'])}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("evaluate")(evaluate)
