"""``glocal monitor`` (live error, demotions, drift and data alerts) and ``glocal backtest``.

``glocal monitor`` exits 0 with no alert, 1 when at least one alert fired (for schedulers
such as Airflow), 2 on bad input (as every command).
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from glocal.cli.common import WorkspaceOption, open_workspace, parse_date, shown, stdout_console
from glocal.core import clock
from glocal.core.errors import ConfigError

__all__ = ["EXIT_ALERT", "backtest", "monitor", "register"]

EXIT_ALERT = 1
"""Exit code of ``glocal monitor`` when an alert fired."""


def _day(value: str | None, option: str = "--as-of") -> dt.date | None:
    return None if value is None else parse_date(value, option)


def _every(value: str) -> int:
    text = value.strip().lower().removesuffix("d")
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--every {value!r} is not a number of days; give it as e.g. 7d.")
    return int(text)


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
    from glocal.monitoring.live_error import error_line

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
            f"predictions of {window['entities']:,} entities; {objective.upper()} "
            f"{error_line(window, objective)}.",
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
    stdout_console.print(f"Wrote {shown(ws, result.directory)}", highlight=False, markup=False)
    if result.alerts:
        raise typer.Exit(EXIT_ALERT)


def backtest(
    data: Annotated[
        Path,
        typer.Option("--data", help="Transaction file (.csv, .parquet, .xlsx) to replay."),
    ],
    start: Annotated[str, typer.Option("--start", help="First replayed day (YYYY-MM-DD).")],
    end: Annotated[
        str | None,
        typer.Option("--end", help="Last replayed day (YYYY-MM-DD); default: the data's end."),
    ] = None,
    every: Annotated[
        str, typer.Option("--every", help="Days between replayed days, e.g. 7d.")
    ] = "7d",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Replay the daily routine over past dates, with monitoring."""
    from glocal.monitoring import run_backtest
    from glocal.monitoring.live_error import error_line

    first = parse_date(start, "--start")
    last = _day(end, "--end")
    days = _every(every)
    ws, settings = open_workspace(workspace)
    result = run_backtest(ws, settings, data.resolve(), first, last, days)
    periods = result.periods
    objective = settings.objective
    realized = periods.loc[periods["realized_cutoff"].notna()]
    stdout_console.print(
        f"Replayed {len(periods)} dates in {result.seconds:,.0f} s: "
        f"{int(periods['global_retrained'].sum())} global retrainings, "
        f"{int(periods['entities_retrained'].sum()):,} local retrainings, "
        f"{int(periods['demoted'].sum()):,} demotions.",
        highlight=False,
        markup=False,
    )
    if len(realized):
        stdout_console.print(
            f"Mean {objective.upper()} over {len(realized)} realized periods: "
            f"{error_line(realized.mean(numeric_only=True).to_dict(), objective)}.",
            highlight=False,
            markup=False,
        )
    stdout_console.print(f"Wrote {shown(ws, result.directory)}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("monitor")(monitor)
    app.command("backtest")(backtest)
