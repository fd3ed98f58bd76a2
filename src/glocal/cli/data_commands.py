"""Commands of the data layer: ``glocal ingest``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from glocal.cli.common import WorkspaceOption, open_workspace, stdout_console
from glocal.core.storage import is_url

if TYPE_CHECKING:
    from glocal.data import IngestResult

__all__ = ["register"]


def _summary_table(result: IngestResult) -> Table:
    record = result.version
    table = Table(title=f"Data version {record.version}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row(
        "source", record.source_path + (f" [sheet {record.sheet}]" if record.sheet else "")
    )
    table.add_row("rows", f"{record.rows:,}")
    table.add_row("customers", f"{record.entities:,}")
    table.add_row(
        "date range", f"{record.date_min:%Y-%m-%d %H:%M} to {record.date_max:%Y-%m-%d %H:%M}"
    )
    table.add_row("rows after cleaning", f"{record.rows_clean:,}")
    table.add_row("customers after cleaning", f"{record.entities_clean:,}")
    table.add_row("cleaned data", str(result.processed_dir))
    return table


def _report_table(result: IngestResult) -> Table:
    report = result.report
    table = Table(title="Cleaning report")
    table.add_column("rule")
    table.add_column("action")
    table.add_column("rows", justify="right")
    table.add_column("what it covers")
    for outcome in report.outcomes:
        table.add_row(outcome.rule, outcome.action, f"{outcome.rows:,}", outcome.description)
    table.add_section()
    table.add_row("total", "removed", f"{report.rows_removed:,}", f"{report.rows_in:,} rows in")
    table.add_row("kept", "", f"{report.rows_out:,}", "")
    return table


def ingest(
    file: Annotated[
        str, typer.Argument(help="Transaction file (.csv, .parquet, .xlsx) or its s3:// URL.")
    ],
    sheet: Annotated[
        str | None,
        typer.Option("--sheet", help="Worksheet to read from an Excel workbook."),
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Read, validate, clean and version a transaction file."""
    from glocal.data import ingest_file

    ws, settings = open_workspace(workspace)
    result = ingest_file(file if is_url(file) else Path(file), ws, settings, sheet=sheet)
    if result.already_present:
        stdout_console.print(
            f"{file} is already present as data version {result.version.version} "
            f"(ingested {result.version.ingested_at:%Y-%m-%d %H:%M} UTC); nothing to do.",
            highlight=False,
            markup=False,
        )
    else:
        stdout_console.print(
            f"Ingested {file} as data version {result.version.version}.",
            highlight=False,
            markup=False,
        )
    stdout_console.print(_summary_table(result))
    stdout_console.print(_report_table(result))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("ingest")(ingest)
