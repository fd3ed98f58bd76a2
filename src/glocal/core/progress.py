"""Progress bars for steps that can take more than a couple of seconds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from glocal.core.logging import stderr_console

__all__ = ["StepProgress", "step_progress"]


class StepProgress:
    """A named sequence of steps with a bar; ``advance(label)`` marks one step done."""

    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, label: str | None = None) -> None:
        """Mark one step as done and optionally show what runs next."""
        if self._progress is None or self._task_id is None:
            return
        if label is not None:
            self._progress.update(self._task_id, description=label)  # type: ignore[arg-type]
        self._progress.advance(self._task_id)  # type: ignore[arg-type]


@contextlib.contextmanager
def step_progress(description: str, total: int, enabled: bool = True) -> Iterator[StepProgress]:
    """Show a progress bar of ``total`` steps on stderr while the block runs.

    The bar is hidden when ``enabled`` is false or stderr is not a terminal, so logs and
    CI output stay clean.
    """
    if not enabled or not stderr_console.is_terminal:
        yield StepProgress(None, None)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr_console, transient=True) as progress:
        task_id = progress.add_task(description, total=total)
        yield StepProgress(progress, task_id)
