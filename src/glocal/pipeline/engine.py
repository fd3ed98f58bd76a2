"""The engine of a training run: ``engine: local`` or ``engine: spark`` of the settings.

:func:`bank_fitter` yields what fits the per-entity ridge banks of every fold and of the
final model (:class:`~glocal.models.local_bank.BankFitter`): the in-process fit, or the
Spark fit of :class:`~glocal.engines.spark_bank.SparkBankFitter` on a session started
for the run and stopped after it (or on the process's active session, left running, when
glocal runs inside a notebook or a ``spark-submit`` job). Both give the same models.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from glocal.config import Settings
from glocal.core.errors import ConfigError
from glocal.core.logging import get_logger

if TYPE_CHECKING:
    from glocal.models.local_bank import BankFitter

__all__ = ["bank_fitter"]

_log = get_logger(__name__)


@contextmanager
def bank_fitter(settings: Settings) -> Iterator[BankFitter | None]:
    """Yield the bank fitter of ``settings.engine`` (a Spark session lives as long).

    ``engine: local`` yields None: the models' in-process default (imported only when
    training).

    Raises:
        ConfigError: ``engine: spark`` without PySpark installed, or Spark cannot start
            (no Java, a bad ``spark.master``).

    """
    if settings.engine == "local":
        yield None
        return
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError(
            "engine is 'spark', but PySpark is not installed. Install the spark extra "
            "(pip install 'glocal[spark]') and Java 17, or set engine: local."
        )
    from pyspark.sql import SparkSession

    from glocal.engines.spark_bank import SparkBankFitter, spark_session

    active = SparkSession.getActiveSession()
    if active is not None:  # e.g. a notebook's or spark-submit's session: used, not stopped
        _log.info("training's per-entity fits run on the active Spark session")
        yield SparkBankFitter(active, settings.spark.buckets)
        return
    try:
        session = spark_session(settings.spark.master, app_name="glocal run")
    except Exception as exc:  # Py4J/Java start-up errors have no common base class
        raise ConfigError(
            f"engine is 'spark', but Spark did not start with spark.master "
            f"{settings.spark.master!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}. "
            "Check that Java 17 is installed (JAVA_HOME) and that spark.master is a valid "
            "master URL such as local[*] or spark://host:7077."
        ) from None
    _log.info("training's per-entity fits run on Spark at %s", settings.spark.master)
    try:
        yield SparkBankFitter(session, settings.spark.buckets)
    finally:
        session.stop()
