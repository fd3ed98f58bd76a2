"""``glocal registry``: list runs, show model cards, promote, roll back and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from glocal.cli.common import WorkspaceOption, open_workspace, shown, stdout_console

if TYPE_CHECKING:
    from glocal.registry import Registry

__all__ = ["register", "registry_app"]

registry_app = typer.Typer(
    help="Runs, per-entity model cards and the production alias.", no_args_is_help=True
)

AliasOption = Annotated[str, typer.Option("--alias", help="Alias to move.")]
PRODUCTION = "production"
"""Default alias: :data:`glocal.registry.PRODUCTION`, spelled out so that ``--help`` need
not import the registry (SQLAlchemy, the model layer); a test keeps the two equal."""


def _open(workspace: Path) -> Registry:
    from glocal.registry import Registry

    ws, settings = open_workspace(workspace, pull=False)  # bundles are fetched if needed
    return Registry.open(settings.registry.url, ws)


_ID_COLUMNS = frozenset({"run", "parent", "data version"})


def _compact(value: float | None) -> str:
    """Format an error for a narrow column: 14,120 or 26.3M."""
    if value is None:
        return ""
    return f"{value / 1e6:,.1f}M" if abs(value) >= 1e6 else f"{value:,.0f}"


def _format_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(value, "strftime") else str(value)


@registry_app.command("list")
def list_runs(
    workspace: WorkspaceOption = Path("."),
    limit: Annotated[
        int,
        typer.Option("--limit", min=0, help="Newest runs to show (aliased runs always); 0: all."),
    ] = 20,
) -> None:
    """List recorded runs, newest first; the one production serves is marked."""
    from glocal.registry import PRUNED

    with _open(workspace) as registry:
        frame = registry.list_runs()
    if frame.empty:
        stdout_console.print("No runs recorded yet; `glocal run` records one.")
        return
    table = Table(title="Runs (newest first)")
    for column in ("run", "status", "created", "data version", "entities", "decisions", "parent"):
        # ids are copied into `glocal registry promote RUN`: never cut or wrapped
        table.add_column(column, no_wrap=column in _ID_COLUMNS)
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in frame.to_dict("records")
    ]
    shown = [
        row for index, row in enumerate(records) if not limit or index < limit or row["aliases"]
    ]
    for row in shown:
        summary = row["summary"] or {}
        counts = sorted(summary.get("decisions", {}).items())
        table.add_row(
            str(row["run_id"]),
            str(row["aliases"]) or ("bundle pruned" if row["status"] == PRUNED else ""),
            _format_time(row["created_at"]),
            str(row["data_version"]),
            f"{summary.get('entities', 0):,}",
            ", ".join(f"{k}: {v:,}" for k, v in counts),
            str(row["parent_run_id"] or ""),
        )
    stdout_console.print(table)
    if len(shown) < len(records):
        stdout_console.print(
            f"{len(records) - len(shown):,} older run(s) not shown; --limit 0 shows all.",
            highlight=False,
        )


@registry_app.command("show")
def show(
    entity: Annotated[str, typer.Argument(help="Entity (customer) id.")],
    workspace: WorkspaceOption = Path("."),
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Newest history rows to show; 0: all.")
    ] = 20,
) -> None:
    """Show an entity's model card: production decision and decision history."""
    with _open(workspace) as registry:
        card = registry.model_card(entity)
    current = card["current"]
    if current is None:
        stdout_console.print(
            f"Entity {entity}: not in the production run ({card['production_run_id']}).",
            markup=False,
        )
    else:
        stdout_console.print(
            f"Entity {entity}: {current['decision']} ({current['candidate']}, weight "
            f"{current['weight']:.3f}, {current['reason']}) in production run "
            f"{current['run_id']}",
            markup=False,
            highlight=False,
        )
    table = Table(
        title="Decision history (newest first)",
        caption="rows: training/validation rows; MSE on the validation block",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("run", "trained", "decision", "reason", "rows"):
        table.add_column(column, no_wrap=True)
    for column in ("MSE global", "MSE local", "carried"):
        table.add_column(column, no_wrap=True, justify="right")
    history = card["history"][::-1]
    for item in history[:limit] if limit else history:
        decision = item["decision"]
        if item["candidate"] and decision != "global":
            decision = f"{decision}: {item['candidate']}"
        table.add_row(
            item["run_id"],
            str(item["trained_at"])[:16].replace("T", " "),
            decision,
            item["reason"],
            f"{item['n_train']}/{item['n_val']}",
            _compact(item["val_mse_global"]),
            _compact(item["val_mse_local"]),
            "yes" if item["carried_forward"] else "",
        )
    stdout_console.print(table)
    if limit and len(history) > limit:
        stdout_console.print(
            f"{len(history) - limit:,} older row(s) not shown; --limit 0 shows all.",
            highlight=False,
        )
    stdout_console.print("Full precision: glocal registry export --json", highlight=False)


@registry_app.command("promote")
def promote(
    run: Annotated[str, typer.Argument(help="Run id to serve.")],
    alias: AliasOption = PRODUCTION,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Point an alias (production) at a run, atomically."""
    with _open(workspace) as registry:
        previous = registry.promote(run, alias)
    was = f" (was {previous})" if previous and previous != run else ""
    stdout_console.print(f"{alias} -> {run}{was}", markup=False, highlight=False)


@registry_app.command("rollback")
def rollback(alias: AliasOption = PRODUCTION, workspace: WorkspaceOption = Path(".")) -> None:
    """Point an alias (production) back at the run it served before."""
    with _open(workspace) as registry:
        run = registry.rollback(alias)
    stdout_console.print(f"{alias} -> {run} (rolled back)", markup=False, highlight=False)


@registry_app.command("prune")
def prune(
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, help="Newest runs that keep their bundles (default: settings)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the bundles that would go.")
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Delete bundles of old runs; records stay."""
    from glocal.pipeline import WorkspaceLock, prune_old_runs

    ws, settings = open_workspace(workspace)
    keep = keep if keep is not None else settings.registry.keep_bundles
    if keep is None:
        stdout_console.print(
            "registry.keep_bundles is null, so every bundle is kept; pass --keep N to prune.",
            markup=False,
            highlight=False,
        )
        return
    with WorkspaceLock(ws.root, command="glocal registry prune"):
        pruned = prune_old_runs(ws, settings, keep, dry_run=dry_run)
    if not pruned:
        message = f"Nothing to prune: no unaliased run is older than the newest {keep}."
    else:
        verb = "Would delete" if dry_run else "Deleted"
        message = f"{verb} the bundles of {len(pruned)} run(s): {', '.join(pruned)}"
    stdout_console.print(message, markup=False, highlight=False)


@registry_app.command("export")
def export(
    as_json: Annotated[
        bool, typer.Option("--json", help="Write models/registry.json (the only format).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Other file to write to.")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Export every entity's model summary of the production run as JSON."""
    if not as_json:
        raise typer.BadParameter("choose the export format: --json", param_hint="--json")
    from glocal.registry import Registry

    ws, settings = open_workspace(workspace, pull=False)
    with Registry.open(settings.registry.url, ws) as registry:
        path = registry.export_json(output)
    count = json.loads(path.read_text(encoding="utf-8"))["entities"]
    where = shown(ws, path) if path.is_relative_to(ws.root) else str(path)
    stdout_console.print(f"Wrote {count:,} entities to {where}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``registry`` command group to the root app."""
    app.add_typer(registry_app, name="registry")
