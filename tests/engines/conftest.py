"""A real Spark session, ``local[2]``, shared by the Spark tests (marker ``spark``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """PySpark on this interpreter (``glocal.engines.spark_bank.spark_session``)."""
    pytest.importorskip("pyspark", reason="install the 'spark' extra to run the Spark tests")
    from glocal.engines.spark_bank import spark_session

    session = spark_session("local[2]", "glocal-tests")
    yield session
    session.stop()
