"""``glocal serve``: the real-time prediction service (uvicorn; the ``serve`` extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glocal.cli.common import WorkspaceOption, open_workspace, uses_object_store
from glocal.config import Workspace
from glocal.core.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["app_from_environment", "register", "serve"]

_WORKSPACE_VARIABLE = "GLOCAL_WORKSPACE"


def app_from_environment() -> FastAPI:
    """Build the app for the workspace in ``$GLOCAL_WORKSPACE`` (uvicorn's worker factory)."""
    from glocal.serving import create_app

    workspace, settings = open_workspace(Path(os.environ.get(_WORKSPACE_VARIABLE, ".")))
    return create_app(workspace, settings)


def serve(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes.")] = None,
) -> None:
    """Serve predictions of the production run over HTTP."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(
            "glocal serve needs the serve extra: pip install 'glocal[serve]'."
        ) from None
    if uses_object_store(workspace):  # every worker works on a scratch copy of its own
        root, settings = workspace.resolve(), Workspace(workspace.resolve()).settings()
    else:
        ws, settings = open_workspace(workspace)
        root = ws.root
    options = settings.serving
    chosen_workers = workers if workers is not None else options.workers
    if chosen_workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {chosen_workers}.")
    os.environ[_WORKSPACE_VARIABLE] = str(root)
    uvicorn.run(
        "glocal.cli.serve_commands:app_from_environment",
        factory=True,
        host=host or options.host,
        port=port or options.port,
        workers=chosen_workers,
        log_level="warning",
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)
