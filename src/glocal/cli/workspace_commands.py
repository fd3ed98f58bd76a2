"""``glocal init`` and ``glocal config show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glocal.cli.common import WorkspaceOption, open_workspace, stdout_console
from glocal.config import Workspace, settings_to_yaml

__all__ = ["register"]

config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the workspace in.")],
) -> None:
    """Create a workspace: folders and commented settings."""
    workspace = Workspace(directory.resolve())
    created = workspace.init()
    verb = "Created" if created else "Already present:"
    stdout_console.print(f"{verb} workspace at {workspace.root}")
    for path in created:
        stdout_console.print(f"  + {path.relative_to(workspace.root)}")


@config_app.command("show")
def show(workspace: WorkspaceOption = Path(".")) -> None:
    """Print the effective settings: defaults, then settings.yaml, then GLOCAL_ variables."""
    _, settings = open_workspace(workspace, require=False)
    stdout_console.print(settings_to_yaml(settings), end="", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("init")(init)
    app.add_typer(config_app, name="config")
