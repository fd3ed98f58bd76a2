"""Options and helpers shared by every command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from glocal.config import Settings, Workspace
from glocal.core.errors import ConfigError
from glocal.core.logging import configure_logging

__all__ = ["WorkspaceOption", "open_workspace", "parse_date", "stdout_console"]

stdout_console = Console(soft_wrap=True)
"""Results go to stdout; logs, progress and errors go to stderr."""
if not stdout_console.is_terminal:
    stdout_console.width = 120  # tables stay readable when piped or captured

WorkspaceOption = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="GLOCAL_WORKSPACE",
        help="Workspace directory (created by `glocal init`).",
        show_default="current directory",
    ),
]


def open_workspace(path: Path, require: bool = True) -> tuple[Workspace, Settings]:
    """Resolve the workspace, load its settings and start logging into its ``logs/``."""
    workspace = Workspace(path.resolve())
    if require:
        workspace.require()
    settings = workspace.settings()
    log_dir = workspace.logs_dir if workspace.is_initialized() else None
    configure_logging(log_dir, settings.log_level)
    return workspace, settings


def parse_date(value: str, option: str) -> dt.date:
    """Read a YYYY-MM-DD option value, or raise a :class:`ConfigError` naming ``option``."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date; give it as YYYY-MM-DD, e.g. 2011-12-09."
        ) from None
