"""``glocal run`` (the daily end-to-end pipeline) and ``glocal predict`` (batch inference)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from glocal.cli.common import (
    WorkspaceOption,
    open_workspace,
    parse_date,
    shown,
    stdout_console,
    uses_object_store,
)
from glocal.config import Settings, Workspace
from glocal.core.errors import ConfigError
from glocal.core.storage import is_url

__all__ = ["predict", "register", "run"]


def _parse_date(value: str | None, option: str = "--date") -> dt.date | None:
    return None if value is None else parse_date(value, option)


def _data_argument(data: str | None) -> Path | str | None:
    """Return ``--data`` as a resolved local path, or the URL unchanged."""
    if data is None or is_url(data):
        return data
    return Path(data).resolve()


def _with_engine(settings: Settings, engine: str | None) -> Settings:
    """Return ``settings`` with ``--engine`` in force (checked first)."""
    if engine is None:
        return settings
    if engine not in ("local", "spark"):
        raise ConfigError(f"--engine {engine}: not an engine; use local or spark.")
    return settings.model_copy(update={"engine": engine})


def run(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Transaction file (.csv, .parquet, .xlsx), or its URL (s3://bucket/file), "
            "to ingest; default: the latest ingested data, or demo data in an empty workspace.",
        ),
    ] = None,
    retrain_global: Annotated[
        bool,
        typer.Option(
            "--retrain-global",
            help="Retrain the global model and re-select every entity, even if not due.",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Replay the run as of this day (YYYY-MM-DD): use only transactions before "
            "it and stamp the run, bundle and registry with it.",
        ),
    ] = None,
    stop_after: Annotated[
        str | None,
        typer.Option(
            "--stop-after",
            help="Run the steps up to this one (ingest, features, train, bundle, register, "
            "promote, predict, prune); 'register' trains and registers without promoting.",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="Where the per-entity fits run for this run: local or spark (the spark "
            "section's master); default: the engine setting.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the run's summary as one line of JSON."),
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Run the daily pipeline: data to models to predictions."""
    from glocal.pipeline import (
        STEPS,
        RegistryRunLock,
        RunSummary,
        WorkspaceLock,
        render_summary,
        run_pipeline,
    )

    if stop_after is not None and stop_after not in STEPS:
        raise ConfigError(f"--stop-after {stop_after}: not a step; use one of {', '.join(STEPS)}.")
    _with_engine(Settings(), engine)  # a bad --engine fails before any work
    root = workspace.resolve()
    cut = _parse_date(as_of, "--as-of")

    def execute(ws: Workspace, settings: Settings) -> RunSummary:
        return run_pipeline(
            ws,
            _with_engine(settings, engine),
            data=_data_argument(data),
            retrain_global=retrain_global,
            as_of=cut,
            stop_after=stop_after,
        )

    if uses_object_store(root):  # the lock lives in the registry database
        ws, settings = open_workspace(root)
        with RegistryRunLock(settings, ws, command="glocal run"):
            summary = execute(ws, settings)
    else:
        with WorkspaceLock(root, command="glocal run"):
            Workspace(root).init()
            summary = execute(*open_workspace(root))
    if as_json:
        print(json.dumps(summary.to_dict(), sort_keys=True))
        return
    for table in render_summary(summary):
        stdout_console.print(table)


def predict(
    workspace: WorkspaceOption = Path("."),
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Date naming the output file (YYYY-MM-DD); default: the snapshot's cutoff.",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local, or spark: score the snapshot file on Spark with the bundle "
            "broadcast (the spark section's master); default: the engine setting.",
        ),
    ] = None,
) -> None:
    """Score the latest snapshot with the production model."""
    from glocal.pipeline import predict_batch

    ws, settings = open_workspace(workspace)
    settings = _with_engine(settings, engine)
    result = predict_batch(ws, settings, _parse_date(date))
    sources = result.frame["source"].value_counts()
    by_source = ", ".join(f"{name}: {count:,}" for name, count in sources.items())
    stdout_console.print(
        f"Scored {len(result.frame):,} entities with run {result.run_id} ({by_source}).",
        highlight=False,
        markup=False,
    )
    stdout_console.print(f"Wrote {shown(ws, result.path)}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("run")(run)
    app.command("predict")(predict)
