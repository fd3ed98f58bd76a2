"""The per-entity ridge banks fitted on Spark, one vectorized call per bucket of entities.

The work of :func:`glocal.models.local_bank.fit_local_banks` is independent per entity
(its own standardization, its own penalty by generalized cross-validation), so any split of
the entities gives the same models. Here the entities are hashed into buckets
(``pmod(hash(entity_id), buckets)``); each bucket's rows go to one ``applyInPandas`` call
that runs the very same ``fit_local_banks`` on them and returns its banks as
:meth:`~glocal.models.local_bank.LocalModelBank.to_frame` rows. Only those rows, one per
entity and bank, come back to the driver; the panel itself never does. No Python call is
made per entity: a bucket of thousands of entities is one call of the grouped kernel.

The common Spark pattern, ``groupBy("entity_id").applyInPandas`` with one scikit-learn fit
per entity, pays Spark's and Python's per-group costs once per entity
(``benchmarks/bench_spark_bank.py`` measures both in one run).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.core.errors import ConfigError, ModelError
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.local_bank import LocalModelBank, fit_local_banks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame

__all__ = [
    "BANK_COLUMN",
    "ROW_ORDER_COLUMN",
    "SparkBankFitter",
    "fit_local_banks_spark",
    "spark_session",
    "submitted_session",
]

BANK_COLUMN = "bank"
"""Column of the returned rows naming the target (bank) each row belongs to."""

_BUCKET = "_glocal_bucket"
ROW_ORDER_COLUMN = "_glocal_row"
"""Optional column of the Spark frame: each entity's rows are fitted in its order."""


def spark_session(master: str = "local[2]", app_name: str = "glocal") -> Any:
    """Return a Spark session whose Python workers run this interpreter (quiet, no UI).

    PySpark's workers import glocal and pandas, so ``PYSPARK_PYTHON`` is set to the
    running interpreter first; Arrow carries the pandas batches.
    """
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def submitted_session(app_name: str) -> Any:
    """Return the session of a ``spark-submit`` job (its master is what the job was given).

    Arrow carries the pandas batches, and Parquet's nanosecond timestamps (pandas writes a
    panel's cutoff so; Spark refuses to read them as timestamps) arrive as plain integers:
    the jobs do not read them.
    """
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(app_name).getOrCreate()
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    return spark


def _result_schema(feature_columns: Sequence[str], integer_ids: bool = False) -> Any:
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    fields = [
        StructField(BANK_COLUMN, StringType(), False),
        StructField(ENTITY_COLUMN, LongType() if integer_ids else StringType(), False),
        StructField("n_train", LongType(), False),
    ]
    scalars = ["alpha", "intercept", "target_min", "target_max", "clip"]
    fields += [StructField(name, DoubleType(), True) for name in scalars]
    for prefix in ("coef:", "mean:", "scale:"):
        fields += [StructField(prefix + f, DoubleType(), True) for f in feature_columns]
    return StructType(fields)


_BUCKET_ERROR = "[glocal bucket] "
_END = " [end]"


def _bucket_problem(rows: pd.DataFrame, targets: Sequence[str], exc: Exception) -> str:
    """Describe why a bucket failed, naming the column and an entity where one is at fault."""
    for name in targets:
        bad = ~np.isfinite(rows[name].to_numpy(dtype=float))
        if bad.any():
            entity = rows[ENTITY_COLUMN].to_numpy()[bad.argmax()]
            return (
                f"target column {name!r} has {int(bad.sum())} missing or infinite value(s), "
                f"for example for entity {entity!r}; drop or fill those rows first"
            )
    return str(exc)


def _collect(fitted: SparkFrame) -> pd.DataFrame:
    """Bring the fitted banks to the driver; a failed bucket becomes a :class:`ModelError`."""
    from pyspark.errors import PythonException

    try:
        return fitted.toPandas()
    except PythonException as exc:
        found = re.search(re.escape(_BUCKET_ERROR) + r"(.*?)" + re.escape(_END), str(exc), re.S)
        if found is None:
            raise
        raise ModelError(f"fitting the local banks on Spark failed: {found.group(1)}.") from None


def fit_local_banks_spark(
    frame: SparkFrame,
    target_columns: Sequence[str],
    *,
    feature_columns: Sequence[str],
    alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
    standardize: bool = True,
    min_train_rows: int = 8,
    clip: float | None = 3.0,
    buckets: int | None = None,
) -> dict[str, LocalModelBank]:
    """Fit one bank per target column of a Spark frame, as ``fit_local_banks`` would.

    Args:
        frame: Spark rows with ``entity_id``, the feature columns and the target columns.
        target_columns: Columns to fit a bank of each (e.g. the target and the global
            residual), sharing one decomposition per entity.
        feature_columns: Numeric features.
        alphas: Ridge penalties per row, chosen per entity by GCV.
        standardize: Standardize features per entity.
        min_train_rows: Entities with fewer rows get no model.
        clip: Clip standardized features and predictions (see ``fit_local_banks``).
        buckets: Buckets the entities are hashed into; ``None``: twice the cluster's
            default parallelism.

    Returns:
        Target column name to its :class:`LocalModelBank`, with the same entities (sorted)
        and the same numbers as the local fit.

    Raises:
        ConfigError: A named column is missing from ``frame``.
        ModelError: A bucket's fit failed, for example on a missing target; the message
            names the column and an entity (not Spark's Python traceback).

    """
    from pyspark.sql import functions

    features, targets = list(feature_columns), list(target_columns)
    missing = [c for c in [ENTITY_COLUMN, *features, *targets] if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"the Spark frame lacks column(s) {missing}; it needs {ENTITY_COLUMN!r}, the "
            "feature columns and the target columns."
        )
    count = buckets or 2 * frame.sparkSession.sparkContext.defaultParallelism
    # integer ids (glocal's entity codes) stay integers; any other id becomes text
    integer_ids = dict(frame.dtypes)[ENTITY_COLUMN] in ("bigint", "int", "smallint")
    ordered = ROW_ORDER_COLUMN in frame.columns

    def fit_bucket(rows: pd.DataFrame) -> pd.DataFrame:
        if ordered:  # the rows of each entity in the caller's order, as a local fit sees them
            rows = rows.sort_values(ROW_ORDER_COLUMN, kind="stable", ignore_index=True)
        if not integer_ids:
            rows = rows.assign(**{ENTITY_COLUMN: rows[ENTITY_COLUMN].astype(str)})
        try:
            banks = fit_local_banks(
                rows,
                {name: rows[name].to_numpy(dtype=float) for name in targets},
                feature_columns=features,
                alphas=alphas,
                standardize=standardize,
                min_train_rows=min_train_rows,
                n_jobs=1,
                clip=clip,
            )
        except (ModelError, ConfigError, ValueError) as exc:
            raise ModelError(f"{_BUCKET_ERROR}{_bucket_problem(rows, targets, exc)}{_END}") from exc
        parts = [bank.to_frame().assign(**{BANK_COLUMN: name}) for name, bank in banks.items()]
        result = pd.concat(parts, ignore_index=True)
        # PySpark converts plain object columns; pandas 3's Arrow-backed strings fail it
        text = (
            {BANK_COLUMN: object} if integer_ids else {ENTITY_COLUMN: object, BANK_COLUMN: object}
        )
        return result.astype(text)

    order = [ROW_ORDER_COLUMN] if ordered else []
    selected = frame.select(ENTITY_COLUMN, *features, *targets, *order).withColumn(
        _BUCKET, functions.pmod(functions.hash(functions.col(ENTITY_COLUMN)), functions.lit(count))
    )
    fitted = selected.groupBy(_BUCKET).applyInPandas(
        fit_bucket, _result_schema(features, integer_ids)
    )
    rows = _collect(fitted)
    banks: dict[str, LocalModelBank] = {}
    for name in targets:
        part = rows.loc[rows[BANK_COLUMN] == name].drop(columns=BANK_COLUMN)
        part = part.sort_values(ENTITY_COLUMN, kind="stable").reset_index(drop=True)
        bank = LocalModelBank.from_frame(part)
        bank.alphas, bank.standardize, bank.min_train_rows = alphas, standardize, min_train_rows
        bank.clip = clip
        banks[name] = bank
    return banks


class SparkBankFitter:
    """The Spark engine of the local part: a :class:`~glocal.models.local_bank.BankFitter`.

    Each call sends the rows (entity, local features, one column per target, and the row
    order) to Spark as one Arrow-backed frame and fits them with
    :func:`fit_local_banks_spark`: the entities are hashed into buckets, one vectorized
    call per bucket, never one per entity. Each entity's rows keep the caller's order, so
    the banks are the ones :func:`~glocal.models.local_bank.fit_local_banks` returns for
    the same rows. The corrections, the selection's reduce (the multiple-testing threshold
    over every entity's p-value) and the population guard stay on the driver: they read
    one value per entity and fold.

    Args:
        session: The Spark session (:func:`spark_session`).
        buckets: Buckets the entities are hashed into; ``None``: twice the cluster's
            default parallelism.

    """

    partitions_entities = True
    """Spark hashes the entities into buckets itself: give it every entity in one call."""

    def __init__(self, session: Any, buckets: int | None = None) -> None:
        self.session = session
        self.buckets = buckets

    def __call__(
        self,
        frame: pd.DataFrame,
        targets: Mapping[str, npt.ArrayLike],
        *,
        feature_columns: Sequence[str],
        alphas: Sequence[float],
        standardize: bool,
        min_train_rows: int,
        n_jobs: int,
        clip: float | None,
    ) -> dict[str, LocalModelBank]:
        """Fit one bank per target on Spark (``n_jobs`` is the executors' business)."""
        features = list(feature_columns)
        columns = {name: f"_glocal_target_{i}" for i, name in enumerate(targets)}
        ids = frame[ENTITY_COLUMN]
        integer_ids = pd.api.types.is_integer_dtype(ids.dtype)
        rows = pd.DataFrame(
            {
                ENTITY_COLUMN: ids.to_numpy(np.int64)
                if integer_ids
                else ids.astype(str).to_numpy(object),
                **{f: frame[f].to_numpy(np.float64) for f in features},
                **{columns[name]: np.asarray(v, dtype=np.float64) for name, v in targets.items()},
                ROW_ORDER_COLUMN: np.arange(len(frame), dtype=np.int64),
            }
        )
        spark_rows = self.session.createDataFrame(rows)
        banks = fit_local_banks_spark(
            spark_rows,
            list(columns.values()),
            feature_columns=features,
            alphas=alphas,
            standardize=standardize,
            min_train_rows=min_train_rows,
            clip=clip,
            buckets=self.buckets,
        )
        for bank in banks.values():
            bank.n_jobs = n_jobs
        return {name: banks[column] for name, column in columns.items()}
