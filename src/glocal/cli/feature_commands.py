"""``glocal features``: build the point-in-time panel and the latest snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from glocal.cli.common import WorkspaceOption, open_workspace, shown, stdout_console
from glocal.config import Settings, Workspace
from glocal.core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from glocal.features import PanelFiles

# The data and feature layers are imported inside the functions that use them, so
# `glocal --help` and the other commands start without loading pandas, DuckDB or LightGBM.

__all__ = ["build_workspace_panel", "register"]

_GENERIC_VERSION_LENGTH = 12


def _from_transactions(
    workspace: Workspace, settings: Settings
) -> tuple[str, str, pd.DataFrame, pd.DataFrame]:
    from glocal.data import latest_data_version, load_clean_transactions
    from glocal.features import build_panel_and_latest

    record = latest_data_version(workspace)
    transactions = load_clean_transactions(workspace, record.version)
    panel, latest = build_panel_and_latest(transactions, settings.features)
    return record.version, record.source_path, panel, latest


def _from_panel_file(
    path: Path | None, settings: Settings
) -> tuple[str, str, pd.DataFrame, pd.DataFrame]:
    from glocal.core.hashing import hash_file
    from glocal.features import latest_rows, load_generic_panel

    path = path or settings.panel.path
    if path is None:
        raise ConfigError(
            "panel.mode is 'panel' but no panel file is given: set panel.path in "
            "config/settings.yaml or pass --panel FILE."
        )
    panel = load_generic_panel(path, settings.panel)
    # a generic panel is versioned by its content, like an ingested transaction file
    version = hash_file(path)[:_GENERIC_VERSION_LENGTH]
    return version, str(path.resolve()), panel, latest_rows(panel)


def _summary(version: str, panel: pd.DataFrame, latest: pd.DataFrame) -> Table:
    from glocal.features import feature_columns

    table = Table(title=f"Feature panel of data version {version}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    known = int(panel["target"].notna().sum())
    table.add_row("rows", f"{len(panel):,} ({known:,} with a known target)")
    table.add_row("entities", f"{panel['entity_id'].nunique():,}")
    table.add_row(
        "cutoffs", f"{panel['cutoff'].min():%Y-%m-%d} to {panel['cutoff'].max():%Y-%m-%d}"
    )
    table.add_row("features", str(len(feature_columns(panel))))
    table.add_row("latest snapshot", f"{len(latest):,} rows at {latest['cutoff'].max():%Y-%m-%d}")
    return table


def _blocks(panel: pd.DataFrame, settings: Settings) -> Table:
    from glocal.features import split_panel

    split = split_panel(panel, settings.split, settings.features.horizon_days)
    table = Table(
        title=(
            f"Time split (horizon {split.horizon_days} days, "
            f"embargo {split.embargo_days} days between blocks)"
        )
    )
    for column in ("block", "first cutoff", "last cutoff", "rows", "entities"):
        table.add_column(column, justify="left" if column == "block" else "right")
    for row in split.describe().itertuples(index=False):
        table.add_row(
            str(row.block), str(row.start), str(row.end), f"{row.rows:,}", f"{row.entities:,}"
        )
    return table


def build_workspace_panel(
    workspace: Workspace,
    settings: Settings,
    panel_file: Path | None = None,
    *,
    check_split: bool = False,
) -> tuple[str, pd.DataFrame, pd.DataFrame, PanelFiles]:
    """Build the panel and latest snapshot (from transactions or a panel file) and write them.

    With ``check_split``, a split the settings cannot make fails before anything is written.

    Returns:
        The data version, the panel, the latest snapshot and the written files.

    """
    from glocal.features import split_panel, write_panel

    from_panel_file = panel_file is not None or settings.panel.mode == "panel"
    if from_panel_file:
        version, source, panel, latest = _from_panel_file(panel_file, settings)
    else:
        version, source, panel, latest = _from_transactions(workspace, settings)
    if check_split:
        split_panel(panel, settings.split, settings.features.horizon_days)
    from glocal.pipeline.panel_marker import forget_panel_built, mark_panel_built

    forget_panel_built(workspace, version)  # until the new panel is complete
    files = write_panel(workspace, version, panel, latest, source=source)
    if not from_panel_file:  # `glocal run` reuses this panel instead of building it again
        mark_panel_built(workspace, version, settings)
    return version, panel, latest, files


def features(
    workspace: WorkspaceOption = Path("."),
    panel_file: Annotated[
        Path | None,
        typer.Option(
            "--panel",
            help="Read this ready-made panel (CSV/Parquet) instead of building one from "
            "transactions; overrides panel.path and implies panel.mode 'panel'.",
        ),
    ] = None,
    describe: Annotated[
        bool,
        typer.Option("--describe", help="Print the train/validation/test blocks of the split."),
    ] = False,
) -> None:
    """Build the point-in-time feature panel and latest snapshot."""
    ws, settings = open_workspace(workspace)
    built = build_workspace_panel(ws, settings, panel_file, check_split=describe)
    version, panel, latest, files = built
    blocks = _blocks(panel, settings) if describe else None
    stdout_console.print(_summary(version, panel, latest))
    for path in (files.panel, files.latest):
        stdout_console.print(f"Wrote {shown(ws, path)}", highlight=False, markup=False)
    if blocks is not None:
        stdout_console.print(blocks)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("features")(features)
