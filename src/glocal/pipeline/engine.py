"""The engine of a run: ``engine: local`` or ``engine: spark`` of the settings.

:func:`bank_fitter` yields what fits the per-entity ridge banks of every fold and of the
final model (:class:`~glocal.models.local_bank.BankFitter`): the in-process fit, or the
Spark fit of :class:`~glocal.engines.spark_bank.SparkBankFitter`. :func:`score_with_spark`
scores a snapshot file on Spark with a bundle broadcast
(:func:`~glocal.engines.spark_scoring.score_spark`). Both use a session started for the
step and stopped after it (or, within :func:`shared_spark_session`, as a run does, one
session for every step), or the process's active session, left running, when glocal
runs inside a notebook or a ``spark-submit`` job. Both engines give the same models and
the same scores.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glocal.config import Settings
from glocal.core.errors import ConfigError, DataFileError
from glocal.core.logging import get_logger

if TYPE_CHECKING:
    from glocal.models import HybridModel
    from glocal.models.local_bank import BankFitter

__all__ = [
    "bank_fitter",
    "fingerprints_on_spark",
    "panel_on_spark",
    "score_with_spark",
    "shared_spark_session",
    "spark_for",
]

_log = get_logger(__name__)


@contextmanager
def spark_for(settings: Settings, app_name: str) -> Iterator[Any]:
    """Yield a Spark session on ``settings.spark.master`` (or the active one).

    Raises:
        ConfigError: PySpark is not installed, or Spark cannot start (no Java, a bad
            ``spark.master``).

    """
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError(
            "engine is 'spark', but PySpark is not installed. Install the spark extra "
            "(pip install 'glocal[spark]') and Java 17, or set engine: local."
        )
    from pyspark.sql import SparkSession

    from glocal.engines.spark_bank import spark_session

    active = SparkSession.getActiveSession()
    if active is not None:  # e.g. a notebook's or spark-submit's session: used, not stopped
        _log.info("%s runs on the active Spark session", app_name)
        yield active
        return
    try:
        session = spark_session(settings.spark.master, app_name=app_name)
    except Exception as exc:  # Py4J/Java start-up errors have no common base class
        reason = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise ConfigError(
            f"engine is 'spark', but Spark did not start with spark.master "
            f"{settings.spark.master!r}: {reason}. Check that Java 17 is installed "
            "(JAVA_HOME) and that spark.master is a valid master URL such as local[*] or "
            "spark://host:7077."
        ) from None
    _log.info("%s runs on Spark at %s", app_name, settings.spark.master)
    shared = _SHARED.get()
    if shared is not None:  # the run's later steps use it too; the run stops it
        shared.session = session
        yield session
        return
    try:
        yield session
    finally:
        session.stop()


@dataclass
class _SharedSession:
    """The session the steps of one run share: started by the first, stopped at the end."""

    session: Any = None


_SHARED: ContextVar[_SharedSession | None] = ContextVar("glocal_shared_spark", default=None)


@contextmanager
def shared_spark_session() -> Iterator[None]:
    """Share one Spark session between the Spark steps within this block.

    The session starts when the first step needs it (never, on ``engine: local``) and
    stops when the block ends. Spark takes seconds to start, and a run has four Spark
    steps (features, fingerprints, training, scoring). A session that was active before
    the block is used and left running, as in :func:`spark_for`.
    """
    shared = _SharedSession()
    token = _SHARED.set(shared)
    try:
        yield
    finally:
        _SHARED.reset(token)
        if shared.session is not None:
            shared.session.stop()


@contextmanager
def bank_fitter(settings: Settings) -> Iterator[BankFitter | None]:
    """Yield the bank fitter of ``settings.engine`` (a Spark session lives as long).

    ``engine: local`` yields None: the models' in-process default (imported only when
    training).

    Raises:
        ConfigError: As :func:`spark_for`.

    """
    if settings.engine == "local":
        yield None
        return
    from glocal.engines.spark_bank import SparkBankFitter

    with spark_for(settings, "glocal training") as session:
        yield SparkBankFitter(session, settings.spark.buckets)


def score_with_spark(
    settings: Settings, bundle: Path, snapshot_file: Path, model: HybridModel | None = None
) -> pd.DataFrame:
    """Score the snapshot Parquet file on Spark with ``bundle``; return the scores here.

    The rows are read and scored by Spark (the bundle broadcast); the scores, one row per
    entity in the order of the entity ids, come back as a pandas frame of
    :data:`~glocal.models.hybrid.PREDICTION_COLUMNS`. ``model``, if given, is the bundle's
    model already loaded here (it is not read again).

    Raises:
        ConfigError: As :func:`spark_for`.
        ModelError: The bundle holds no model, or the snapshot lacks a feature.

    """
    from glocal.engines.spark_scoring import score_spark

    with spark_for(settings, "glocal scoring") as session, _nanos_as_long(session):
        snapshot = session.read.parquet(str(snapshot_file))
        scores = score_spark(snapshot, bundle, model).toPandas()
    return scores.sort_values("entity_id", kind="stable", ignore_index=True)


@contextmanager
def _nanos_as_long(session: Any) -> Iterator[None]:
    """Read Parquet's nanosecond timestamps (pandas writes them) as integers, for a while.

    Spark refuses to read them as timestamps. A user's session gets its setting back.
    """
    key = "spark.sql.legacy.parquet.nanosAsLong"
    before = session.conf.get(key, None)
    session.conf.set(key, "true")
    try:
        yield
    finally:
        if before is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, before)


def _read_transactions(session: Any, transactions_file: Path) -> Any:
    """Return Spark's frame of a data version's cleaned transactions.

    Raises:
        DataFileError: Spark cannot read the file (damaged, or not Parquet).

    """
    try:
        return session.read.parquet(str(transactions_file))
    except Exception as exc:  # AnalysisException, Py4JJavaError: no common base class
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        version = transactions_file.parent.name
        raise DataFileError(
            f"Spark cannot read the cleaned transactions of data version {version} at "
            f"{transactions_file} ({reason}). Delete data/versions/{version}.json and "
            "ingest the source file again."
        ) from None


def panel_on_spark(
    settings: Settings, transactions_file: Path, as_of: dt.date | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the panel and latest snapshot of a cleaned-transactions file with Spark SQL.

    The transactions are read and aggregated by Spark; only the panel rows come back here.
    ``as_of`` keeps the transactions strictly before that day.

    Raises:
        ConfigError: As :func:`spark_for`, or bad cutoff bounds.
        DataFileError: Spark cannot read the file.
        DataValidationError: the file breaks the cleaned-transactions contract.

    """
    from glocal.engines.spark_panel import build_panel_spark, transactions_before

    with spark_for(settings, "glocal features") as session, _nanos_as_long(session):
        transactions = _read_transactions(session, transactions_file)
        if as_of is not None:
            transactions = transactions_before(transactions, as_of)
        built = build_panel_spark(transactions, settings.features, buckets=settings.spark.buckets)
        panel, latest = built.collect()
        built.unpersist()
    return panel, latest


_FINGERPRINT_SQL = """
SELECT CAST(entity_id AS STRING) AS entity_id, count(*) AS n_rows,
       max(timestamp) AS last_timestamp,
       sum(CAST(bround(CAST(amount AS DOUBLE) * 1000000D, 0) AS BIGINT)) AS net_amount_micros
FROM glocal_fingerprint_lines GROUP BY CAST(entity_id AS STRING)
"""


def fingerprints_on_spark(
    settings: Settings, transactions_file: Path, as_of: dt.date | None
) -> pd.DataFrame:
    """Return :func:`~glocal.pipeline.fingerprints.entity_fingerprints`, computed by Spark.

    One row per entity comes back here, never the transactions.
    """
    from glocal.engines.spark_panel import transactions_before

    with spark_for(settings, "glocal fingerprints") as session, _nanos_as_long(session):
        transactions = _read_transactions(session, transactions_file)
        if as_of is not None:
            transactions = transactions_before(transactions, as_of)
        transactions.createOrReplaceTempView("glocal_fingerprint_lines")
        table: pd.DataFrame = session.sql(_FINGERPRINT_SQL).toPandas()
    if pd.api.types.is_integer_dtype(table["last_timestamp"].dtype):  # nanoseconds
        table["last_timestamp"] = pd.to_datetime(table["last_timestamp"], unit="ns")
    table["last_timestamp"] = table["last_timestamp"].astype("datetime64[us]")
    table["n_rows"] = table["n_rows"].astype(np.int64)
    table["net_amount_micros"] = table["net_amount_micros"].astype(np.int64)
    table["entity_id"] = table["entity_id"].astype(object)
    return table.sort_values("entity_id", ignore_index=True)
