"""Entry point of the ``glocal`` command: builds the app and maps errors to exit codes.

Exit codes: 0 success, 2 bad input (any :class:`~glocal.core.errors.GlocalError` or a usage
error), 1 an internal error, whose traceback goes to the log file, never to the user.
"""

from __future__ import annotations

import sys

import typer

from glocal import __version__
from glocal.cli import (
    data_commands,
    demo_command,
    feature_commands,
    model_commands,
    monitor_commands,
    pipeline_commands,
    registry_commands,
    serve_commands,
    workspace_commands,
)
from glocal.cli.common import close_remote
from glocal.core.errors import GlocalError
from glocal.core.logging import get_logger, stderr_console

__all__ = ["build_app", "main", "run"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"glocal {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Return the root Typer app with every command registered."""
    app = typer.Typer(
        name="glocal",
        help="Personalized modeling at scale: a global model plus guarded per-entity models.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version_callback, is_eager=True, help="Show version."
        ),
    ) -> None:
        """Personalized modeling at scale."""

    for module in (
        workspace_commands,
        demo_command,
        data_commands,
        feature_commands,
        model_commands,
        pipeline_commands,
        monitor_commands,
        registry_commands,
        serve_commands,
    ):
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code instead of exiting."""
    app = build_app()
    succeeded = False
    try:
        try:
            result = app(args=argv, prog_name="glocal", standalone_mode=False)
            succeeded = True
        except typer.Exit:
            succeeded = True  # e.g. `glocal monitor` exits 1 on an alert: its output stands
            raise
        finally:
            close_remote(succeeded=succeeded)
    except GlocalError as exc:
        stderr_console.print(f"error: {exc}", markup=False, highlight=False)
        return EXIT_BAD_INPUT
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: unknown command, bad option, ...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            stderr_console.print(f"error: {exc.format_message()}", markup=False)
        return int(exc.exit_code)
    except typer.Abort:
        stderr_console.print("aborted.")
        return 130
    except Exception as exc:
        get_logger("cli").debug("internal error", exc_info=True)
        stderr_console.print(
            f"internal error: {type(exc).__name__}: {exc}. This is a bug in glocal; the "
            "traceback is in the workspace's logs/glocal.log.",
            markup=False,
            highlight=False,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
