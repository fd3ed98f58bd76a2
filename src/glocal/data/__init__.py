"""Data layer: reading transaction files, data versions, cleaning and demo data.

The other layers use these functions:

* :func:`read_transactions` reads a CSV, Parquet or XLSX file into canonical raw
  transactions (see :mod:`glocal.data.readers` for the columns);
* :func:`clean_transactions` applies the documented cleaning rules
  (:mod:`glocal.data.cleaning`) and returns a :class:`CleaningReport`;
* :func:`ingest_file` does both and stores the result as a content-addressed
  :class:`DataVersion` in the workspace; :func:`latest_data_version` and
  :func:`load_clean_transactions` read it back;
* :func:`generate_demo_transactions` and :func:`write_demo_file` make a realistic demo
  file in the raw UCI Online Retail schema.
"""

from __future__ import annotations

from glocal.data.cleaning import clean_transactions
from glocal.data.columns import CANONICAL_COLUMNS, CLEAN_COLUMNS
from glocal.data.demo import generate_demo_transactions, write_demo_file
from glocal.data.ingest import IngestResult, ingest_file
from glocal.data.readers import read_transactions
from glocal.data.report import CleaningReport, RuleOutcome
from glocal.data.versions import (
    DataVersion,
    get_data_version,
    latest_data_version,
    list_data_versions,
    load_clean_transactions,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "CLEAN_COLUMNS",
    "CleaningReport",
    "DataVersion",
    "IngestResult",
    "RuleOutcome",
    "clean_transactions",
    "generate_demo_transactions",
    "get_data_version",
    "ingest_file",
    "latest_data_version",
    "list_data_versions",
    "load_clean_transactions",
    "read_transactions",
    "write_demo_file",
]
