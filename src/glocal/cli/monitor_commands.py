"""``glocal monitor``: live error against actuals, demotions, drift and data alerts.

Exit codes: 0 no alert, 1 at least one alert fired (for schedulers such as Airflow), 2 bad
input (as every command).
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from glocal.cli.common import WorkspaceOption, open_workspace, stdout_console
from glocal.core import clock
from glocal.core.errors import ConfigError

__all__ = ["EXIT_ALERT", "monitor", "register"]

EXIT_ALERT = 1
"""Exit code of ``glocal monitor`` when an alert fired."""


def _day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--as-of {value!r} is not a date; give it as YYYY-MM-DD, e.g. 2011-12-09."
        ) from None


def monitor(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Monitor as of this day (YYYY-MM-DD), e.g. after `glocal run --as-of`; "
            "default today.",
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record",
            help="Record the demotions in the registry (the next run honours them), or "
            "only report them.",
        ),
    ] = True,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Score served predictions against actuals; demote, alert."""
    from glocal.monitoring import run_monitor

    day = _day(as_of)
    ws, settings = open_workspace(workspace)
    frozen = clock.frozen_at(clock.as_of_moment(day)) if day is not None else nullcontext()
    with frozen:
        result = run_monitor(ws, settings, record=record)
    window = result.summary["window"]
    objective = settings.objective
    if window["rows"]:
        stdout_console.print(
            f"Window {window['start']} to {window['end']}: {window['rows']:,} realized "
            f"predictions of {window['entities']:,} entities; {objective.upper()} served "
            f"{window[f'{objective}_served']:,.2f}, shadow global "
            f"{window[f'{objective}_global']:,.2f}.",
            highlight=False,
            markup=False,
        )
    else:
        stdout_console.print(
            "No served prediction is realized yet (its horizon has not passed).",
            highlight=False,
            markup=False,
        )
    verb = "Demoted" if record else "Would demote"
    stdout_console.print(f"{verb} {result.demoted:,} entities.", highlight=False, markup=False)
    for alert in result.alerts:
        stdout_console.print(f"ALERT {alert.name}: {alert.message}", highlight=False, markup=False)
    stdout_console.print(f"Wrote {result.directory}", highlight=False, markup=False)
    if result.alerts:
        raise typer.Exit(EXIT_ALERT)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("monitor")(monitor)
