"""``glocal demo``: the whole pipeline on generated demo data, from an empty directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glocal.cli.common import WorkspaceOption, open_workspace, stdout_console, uses_object_store
from glocal.cli.data_commands import ingest
from glocal.cli.feature_commands import features
from glocal.cli.model_commands import evaluate
from glocal.cli.pipeline_commands import run
from glocal.config import Workspace
from glocal.core.errors import ConfigError

__all__ = ["register"]


def demo(
    workspace: WorkspaceOption = Path("."),
    customers: Annotated[
        int, typer.Option("--customers", min=50, help="Number of demo customers.")
    ] = 600,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed; default: settings' seed.")
    ] = None,
) -> None:
    """Run the whole pipeline on generated demo transactions."""
    from glocal.data import write_demo_file

    root = workspace.resolve()
    if uses_object_store(root):
        raise ConfigError(
            "glocal demo builds a demo workspace in a local directory, but storage.url is "
            "set in its settings. Run it in a new directory, or use `glocal run` (demo data "
            "in an empty store)."
        )
    Workspace(root).init()
    ws, settings = open_workspace(root)
    path = write_demo_file(ws, seed=settings.seed if seed is None else seed, n_customers=customers)
    stdout_console.print(f"Generated demo transactions: {path}", highlight=False, markup=False)
    ingest(str(path), sheet=None, workspace=root)
    features(workspace=root, panel_file=None, describe=True)
    evaluate(workspace=root, seed_recipe=True)
    run(data=None, retrain_global=False, workspace=root)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("demo")(demo)
