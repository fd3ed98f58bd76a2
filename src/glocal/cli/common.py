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

__all__ = [
    "WorkspaceOption",
    "close_remote",
    "open_workspace",
    "parse_date",
    "shown",
    "stdout_console",
    "uses_object_store",
]

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


_REMOTE: list[Workspace] = []
"""Scratch workspaces of this command (``storage.url`` set), closed by :func:`close_remote`."""


def open_workspace(
    path: Path, require: bool = True, *, pull: bool = True
) -> tuple[Workspace, Settings]:
    """Resolve the workspace, load its settings and start logging into its ``logs/``.

    With ``storage.url`` set, the files live in the object store: the command gets a
    scratch workspace pulled from it, published and deleted when the command ends
    (:func:`close_remote`); ``path`` need hold nothing but ``config/settings.yaml``.
    Without ``require`` (commands that read only the settings) no scratch copy is made;
    without ``pull`` one is made but starts empty (commands that need only the registry).
    """
    workspace = Workspace(path.resolve())
    settings = workspace.settings()
    if settings.storage.url is not None and require:
        from glocal.pipeline.remote import open_remote_workspace

        configure_logging(None, settings.log_level)
        scratch = open_remote_workspace(workspace.settings_path, settings, pull=pull)
        _REMOTE.append(scratch)
        configure_logging(scratch.logs_dir, settings.log_level)
        return scratch, settings
    if require:
        workspace.require()
    log_dir = workspace.logs_dir if workspace.is_initialized() else None
    configure_logging(log_dir, settings.log_level)
    return workspace, settings


def shown(workspace: Workspace, path: Path) -> str:
    """Return how to show a written file: its store URL with ``storage.url``, else its path."""
    from glocal.pipeline.remote import location_of

    return str(location_of(workspace, path))


def uses_object_store(path: Path) -> bool:
    """Return whether the workspace at ``path`` keeps its files in an object store."""
    return Workspace(path.resolve()).settings().storage.url is not None


def close_remote(*, succeeded: bool) -> None:
    """Publish (on success) and delete the scratch workspaces this command opened."""
    from glocal.pipeline.remote import close_remote_workspace

    while _REMOTE:
        close_remote_workspace(_REMOTE.pop(), publish=succeeded)


def parse_date(value: str, option: str) -> dt.date:
    """Read a YYYY-MM-DD option value, or raise a :class:`ConfigError` naming ``option``."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date; give it as YYYY-MM-DD, e.g. 2011-12-09."
        ) from None
