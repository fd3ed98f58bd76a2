"""Fixtures of the data-layer tests: small demo frames and the real data, read once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.config import Settings
from glocal.data import clean_transactions, generate_demo_transactions, read_transactions
from glocal.data.report import CleaningReport


@pytest.fixture(scope="session")
def small_demo() -> pd.DataFrame:
    """A small demo frame in the raw Online Retail schema (40 customers, 120 days)."""
    return generate_demo_transactions(n_customers=40, seed=7, days=120)


@pytest.fixture(scope="session")
def real_raw(real_data_path: Path) -> pd.DataFrame:
    """The real data as canonical raw transactions."""
    return read_transactions(real_data_path, Settings().columns)


@pytest.fixture(scope="session")
def real_clean(real_raw: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """The real data after cleaning, with its report."""
    return clean_transactions(real_raw, Settings().cleaning)
