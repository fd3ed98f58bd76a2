"""Logging to the console (rich) and to a file under the workspace's ``logs/``."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

__all__ = ["configure_logging", "get_logger", "release_log_directory", "stderr_console"]

stderr_console = Console(stderr=True, soft_wrap=True)
"""The console that log lines, progress bars and error messages go to."""

_ROOT = "glocal"


def get_logger(name: str) -> logging.Logger:
    """Return a logger below the ``glocal`` root logger."""
    return logging.getLogger(name if name.startswith(_ROOT) else f"{_ROOT}.{name}")


def configure_logging(log_dir: Path | None = None, level: str = "INFO") -> None:
    """Send glocal's log records to stderr and, if ``log_dir`` is given, to ``glocal.log``.

    Calling it again replaces the handlers, so tests and repeated CLI calls do not stack them.
    """
    root = logging.getLogger(_ROOT)
    # the root passes everything; each handler filters (the file keeps DEBUG: tracebacks)
    root.setLevel(logging.DEBUG if log_dir is not None else level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = RichHandler(console=stderr_console, show_path=False, markup=False)
    console.setLevel(level)
    root.addHandler(console)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_dir / "glocal.log", encoding="utf-8")
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        file_handler.setLevel(logging.DEBUG)
        root.addHandler(file_handler)
    root.propagate = False


def release_log_directory(directory: Path) -> None:
    """Detach and close the log file handlers writing under ``directory``.

    Call it before deleting a directory that :func:`configure_logging` logged into (a
    scratch workspace): a handler left attached would try to reopen its deleted file the
    next time anything logs, for example after uvicorn's logging setup closed it.
    """
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).is_relative_to(
            directory
        ):
            root.removeHandler(handler)
            handler.close()
