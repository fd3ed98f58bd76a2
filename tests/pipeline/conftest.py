"""Fixtures of the pipeline tests: small demo workspaces after a first complete run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Workspace
from glocal.data.demo import generate_demo_transactions
from glocal.pipeline import RunSummary, run_pipeline

N_CUSTOMERS = 150


def write_demo(path: Path, n_customers: int = N_CUSTOMERS) -> Path:
    """Write small demo transactions in the raw UCI schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_demo_transactions(n_customers=n_customers, seed=7).to_parquet(path, index=False)
    return path


def append_orders(
    source: Path,
    target: Path,
    customers: list[int],
    new_customers: tuple[int, ...] = (),
    days_later: int = 0,
) -> Path:
    """Copy ``source`` and add one new order for each customer (and brand-new customers).

    The orders are dated ``days_later`` days after the last transaction of the file.
    """
    raw = pd.read_parquet(source)
    last = raw["InvoiceDate"].max() + pd.Timedelta(days=days_later)
    template = raw[raw["CustomerID"].notna() & (raw["Quantity"] > 0)].iloc[:1]
    rows = []
    for number, customer in enumerate([*customers, *new_customers]):
        row = template.copy()
        row["CustomerID"] = customer
        row["InvoiceNo"] = f"{900000 + number}"
        row["InvoiceDate"] = last
        rows.append(row)
    extended = pd.concat([raw, *rows], ignore_index=True)
    extended["CustomerID"] = extended["CustomerID"].astype(raw["CustomerID"].dtype)
    target.parent.mkdir(parents=True, exist_ok=True)
    extended.to_parquet(target, index=False)
    return target


@pytest.fixture(scope="session")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, RunSummary, Path]:
    """A workspace after one complete `glocal run` on 150 demo customers (do not modify)."""
    root = tmp_path_factory.mktemp("pipeline") / "ws"
    workspace = Workspace(root)
    workspace.init()
    data = write_demo(root.parent / "day1.parquet")
    summary = run_pipeline(workspace, workspace.settings(), data=data)
    return workspace, summary, data


@pytest.fixture
def after_first_run(
    first_run: tuple[Workspace, RunSummary, Path], tmp_path: Path
) -> tuple[Workspace, RunSummary, Path]:
    """A private copy of the workspace of :func:`first_run`, free to modify."""
    workspace, summary, data = first_run
    copy = tmp_path / "ws"
    shutil.copytree(workspace.root, copy)
    return Workspace(copy), summary, data
