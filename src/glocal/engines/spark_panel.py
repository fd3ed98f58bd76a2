"""The point-in-time panel built on Spark from cleaned transactions the driver never reads.

The same panel as :func:`glocal.features.build_panel_and_latest`, in three stages:

1. **Spark SQL** aggregates the transaction lines to per-(entity, day) amounts: spend,
   returns, units, invoices dated by their first line, purchase days and the gaps
   between them, products counted once per detail window, the day's last country
   (:data:`DAY_SQL`, the statements of :mod:`glocal.features.transactions_sql` in Spark's
   dialect). Only two numbers (the first purchase and the last day) and the list of
   countries reach the driver, to place the cutoffs and type the country column.
2. **Buckets of entities** (``pmod(hash(entity_id), buckets)``): one ``applyInPandas``
   call per bucket turns its days into running totals and computes every snapshot row of
   its entities with :func:`glocal.features.snapshot_features.snapshot_features`, the
   local builder's own function: one vectorized call per bucket, never one per entity.
3. **BG/NBD + Gamma-Gamma** is fitted over every entity of a cutoff, so it cannot run per
   bucket: the buckets return its inputs, one ``applyInPandas`` call per cutoff fits the
   two models, the parameters (a few numbers per cutoff) are broadcast, and
   ``mapInPandas`` computes ``baseline_btyd``.

Up to :data:`~glocal.features.btyd.MAX_FIT_CUSTOMERS` customers per cutoff the panel
equals the local one (``tests/engines/test_spark_panel.py``); above that both fit a seeded
sample of that size, drawn in entity-id order here and in first-appearance order locally,
so ``baseline_btyd`` differs by the sampling.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glocal.config.features import FeatureSettings
from glocal.core.errors import DataValidationError
from glocal.features.btyd import (
    BgNbdParams,
    GammaGammaParams,
    btyd_spend,
    fit_bgnbd,
    fit_gamma_gamma,
)
from glocal.features.cutoffs import CutoffRange, entity_cutoff_grid, resolve_cutoff_range
from glocal.features.running_totals import RunningTotals, running_by_entity
from glocal.features.schema import BASELINE_PREFIX, CUTOFF, CUTOFF_DTYPE, ENTITY, finalize_panel
from glocal.features.snapshot_features import BTYD_INPUT_PREFIX, snapshot_features
from glocal.features.transactions_input import check_required_columns
from glocal.features.transactions_panel import add_calendar
from glocal.features.transactions_sql import MEASURES, day_ctes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame

__all__ = ["DAY_SQL", "SparkPanel", "build_panel_spark", "panel_contract", "transactions_before"]

_KIND = "_glocal_kind"  # 0: a panel row, 1: a latest-snapshot row
_CUTOFF_DAY = "_glocal_cutoff_day"
_BUCKET = "_glocal_bucket"
_NANOS_PER_DAY = 86_400_000_000_000
_BTYD = f"{BASELINE_PREFIX}btyd"
_BTYD_INPUTS = ("frequency", "recency", "age", "repeat_monetary", "mean_monetary")

DAY_SQL = """
WITH $day_ctes,
events AS (
    SELECT entity_id, day, sum(amount) AS net,
           sum(amount) FILTER (WHERE NOT is_cancellation) AS purchase_value,
           sum(quantity) FILTER (WHERE NOT is_cancellation) AS purchase_units,
           -sum(amount) FILTER (WHERE is_cancellation) AS return_value,
           CAST(NULL AS BIGINT) AS purchase_days, CAST(NULL AS BIGINT) AS gap_sq,
           CAST(NULL AS BIGINT) AS last_purchase,
           CAST(NULL AS BIGINT) AS purchase_invoices, CAST(NULL AS BIGINT) AS return_invoices,
           CAST(NULL AS BIGINT) AS products,
           max_by(country, struct(ts, country)) FILTER (WHERE country IS NOT NULL) AS country
    FROM glocal_lines GROUP BY entity_id, day
    UNION ALL
    SELECT entity_id, day, NULL, NULL, NULL, NULL, 1,
           coalesce(CAST(gap AS BIGINT) * gap, 0), day, NULL, NULL, NULL, NULL
    FROM purchase_days
    UNION ALL
    SELECT entity_id, day, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           count(*) FILTER (WHERE NOT is_cancellation),
           count(*) FILTER (WHERE is_cancellation), NULL, NULL
    FROM invoices GROUP BY entity_id, day
    UNION ALL
    -- a product bought on day d counts at the cutoffs in (d, d + window], once
    SELECT entity_id, day, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, NULL
    FROM product_days
    UNION ALL
    SELECT entity_id, least(day + $detail_window, coalesce(next_day, day + $detail_window)),
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, -1, NULL
    FROM product_days
)
SELECT d.entity_id, d.day, e.first_purchase,
       coalesce(sum(net), 0) AS net,
       coalesce(sum(purchase_value), 0) AS purchase_value,
       coalesce(sum(purchase_units), 0) AS purchase_units,
       coalesce(sum(return_value), 0) AS return_value,
       coalesce(sum(purchase_days), 0) AS purchase_days,
       coalesce(sum(gap_sq), 0) AS gap_sq,
       coalesce(sum(purchase_invoices), 0) AS purchase_invoices,
       coalesce(sum(return_invoices), 0) AS return_invoices,
       coalesce(sum(products), 0) AS products,
       max(last_purchase) AS last_purchase,
       max(country) AS country
FROM events d
JOIN (SELECT entity_id, min(day) AS first_purchase FROM glocal_lines
      WHERE NOT is_cancellation GROUP BY entity_id) e ON d.entity_id = e.entity_id
GROUP BY d.entity_id, d.day, e.first_purchase
"""
"""Spark SQL of the per-(entity, day) amounts (``glocal_lines`` is the prepared lines view).

``$day_ctes`` stands for :data:`glocal.features.transactions_sql.DAY_CTES` (shared with
the DuckDB builder) and ``$detail_window`` for the days of the detail window.

The days of entities without a purchase are dropped (they get no snapshot), and each row
carries its entity's first purchase day. Running totals are taken per bucket."""


@dataclass(frozen=True)
class SparkPanel:
    """The panel and the latest snapshot as Spark frames, and the country categories.

    ``panel`` and ``latest`` have the local builder's columns, in its order (``cutoff`` is
    a ``TIMESTAMP_NTZ``, ``country`` a string). They are lazy: writing or collecting one
    runs the job. ``countries`` is None when the transactions have no country column.
    """

    panel: SparkFrame
    latest: SparkFrame
    countries: list[str] | None
    cached: SparkFrame
    """Both frames' common rows, cached by Spark: :meth:`unpersist` frees them."""
    both: SparkFrame
    """The rows of both, with the kind of each (:meth:`collect` reads them in one job)."""

    def unpersist(self) -> None:
        """Free the cached rows (after the frames were written or collected)."""
        self.cached.unpersist()

    def to_pandas(self, frame: SparkFrame) -> pd.DataFrame:
        """Collect ``panel`` or ``latest`` here, in the panel contract of the local builder."""
        return panel_contract(frame.toPandas(), self.countries)

    def collect(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Collect the panel and the latest snapshot here in one Spark job (one BG/NBD fill)."""
        rows = self.both.toPandas()
        kind = rows.pop(_KIND).to_numpy()
        panel = panel_contract(rows.loc[kind == 0].reset_index(drop=True), self.countries)
        latest = panel_contract(rows.loc[kind == 1].reset_index(drop=True), self.countries)
        return panel, latest


def panel_contract(rows: pd.DataFrame, countries: list[str] | None) -> pd.DataFrame:
    """Return Spark-built rows (collected, or read back) with the contract's dtypes and sort.

    ``countries`` are the categories of the ``country`` column (None: there is none).
    """
    rows[CUTOFF] = pd.to_datetime(rows[CUTOFF]).astype(CUTOFF_DTYPE)
    if countries is not None:
        rows["country"] = pd.Categorical(rows["country"], categories=countries)
    return finalize_panel(rows)


def _check_columns(transactions: SparkFrame) -> None:
    from pyspark.sql.types import NumericType

    check_required_columns(transactions.columns, "data/processed/<version>/transactions.parquet")
    for column in ("quantity", "amount"):
        kind = transactions.schema[column].dataType
        if not isinstance(kind, NumericType):
            raise DataValidationError(
                f"column '{column}' must be numeric, found {kind.simpleString()}."
            )


def _lines(transactions: SparkFrame) -> SparkFrame:
    """Return the lines the SQL reads: integer day numbers and micro-unit money."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import LongType, TimestampNTZType, TimestampType

    _check_columns(transactions)
    kind = transactions.schema["timestamp"].dataType
    ts = sf.col("timestamp")
    if isinstance(kind, LongType):  # Parquet nanoseconds read with nanosAsLong (pandas files)
        day = sf.floor(ts / sf.lit(_NANOS_PER_DAY))
    elif isinstance(kind, TimestampType | TimestampNTZType):
        day = sf.datediff(sf.to_date(ts), sf.lit("1970-01-01").cast("date"))
    else:
        raise DataValidationError(
            f"column 'timestamp' must be a timestamp, found {kind.simpleString()}; write the "
            "cleaned transactions with `glocal ingest`."
        )
    has_country = "country" in transactions.columns
    return transactions.select(
        sf.col("entity_id").cast("string").alias("entity_id"),
        sf.col("invoice").cast("string").alias("invoice"),
        sf.col("stock_code").cast("string").alias("stock_code"),
        sf.col("quantity").cast("long").alias("quantity"),
        sf.bround(sf.col("amount").cast("double") * sf.lit(1e6), 0).cast("long").alias("amount"),
        ts.alias("ts"),
        day.cast("long").alias("day"),
        (sf.col("country").cast("string") if has_country else sf.lit(None).cast("string")).alias(
            "country"
        ),
        sf.col("is_cancellation").cast("boolean").alias("is_cancellation"),
    )


def transactions_before(transactions: SparkFrame, day: dt.date) -> SparkFrame:
    """Return the transactions strictly before midnight starting ``day`` (an as-of cut)."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import LongType

    if isinstance(transactions.schema["timestamp"].dataType, LongType):  # nanoseconds
        nanos = (day - dt.date(1970, 1, 1)).days * _NANOS_PER_DAY
        return transactions.where(sf.col("timestamp") < sf.lit(nanos))
    midnight = dt.datetime.combine(day, dt.time())
    return transactions.where(sf.col("timestamp") < sf.lit(midnight).cast("timestamp_ntz"))


def _span(lines: SparkFrame) -> tuple[int, int]:
    from pyspark.sql import functions as sf

    required = ("entity_id", "ts", "amount", "quantity", "is_cancellation")
    row = lines.agg(
        sf.min(sf.when(~sf.col("is_cancellation"), sf.col("day"))).alias("first"),
        sf.max("day").alias("last"),
        *[sf.count_if(sf.col(column).isNull()).alias(column) for column in required],
    ).first()
    if row is None:  # an aggregate without grouping always has its one row
        raise DataValidationError("the transactions are empty: there is nothing to build from.")
    for column in required:
        if row[column]:
            name = "timestamp" if column == "ts" else column
            raise DataValidationError(
                f"column '{name}' has {row[column]} empty value(s); cleaned transactions have none."
            )
    if row["last"] is None:
        raise DataValidationError("the transactions are empty: there is nothing to build from.")
    if row["first"] is None:
        raise DataValidationError(
            "the transactions hold no purchase (every line is a cancellation), so no entity "
            "has a first purchase to start its snapshots from."
        )
    return int(row["first"]), int(row["last"])


def _running(days: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index, RunningTotals]:
    """Turn a bucket's per-day amounts into running totals per entity (vectorized)."""
    days = days.sort_values([ENTITY, "day"], kind="stable", ignore_index=True)
    codes, entities = pd.factorize(days[ENTITY], sort=True)
    columns: dict[str, np.ndarray] = {"entity_id": codes.astype(np.int64)}
    columns["day"] = days["day"].to_numpy(dtype=np.int64)
    per_day = {measure: days[measure].to_numpy(dtype=np.int64) for measure in MEASURES}
    # the last purchase and the country only move forward: the running value is the last one
    per_day["last_purchase"] = days["last_purchase"].astype("float64").to_numpy()
    per_day["country"] = days["country"].to_numpy(dtype=object)
    columns |= running_by_entity(
        codes, per_day, summed=MEASURES, carried=("last_purchase", "country")
    )
    first_row = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    first_days = days["first_purchase"].to_numpy(dtype=np.int64)[first_row]
    return np.arange(len(entities)), first_days, pd.Index(entities), RunningTotals(columns)


def _snapshot_rows(
    days: pd.DataFrame, settings: FeatureSettings, ranges: list[CutoffRange]
) -> pd.DataFrame:
    """Return every snapshot row of a bucket's entities (``ranges[k]`` has kind ``k``)."""
    codes, first_days, entities, totals = _running(days)
    frames = []
    for kind, cutoffs in enumerate(ranges):
        row, cutoff = entity_cutoff_grid(first_days, cutoffs.days())
        columns = snapshot_features(
            totals, codes[row], cutoff, first_days[row], settings, cutoffs.end_day,
            deferred_btyd=True,
        )  # fmt: skip
        frame = pd.DataFrame(
            {
                ENTITY: entities[codes[row]].astype(str),
                CUTOFF: cutoff.astype("datetime64[D]").astype(CUTOFF_DTYPE),
                _KIND: np.full(len(row), kind, dtype=np.int32),
                _CUTOFF_DAY: cutoff,
                **columns,
            }
        )
        frames.append(add_calendar(frame))
    rows = pd.concat(frames, ignore_index=True).drop(columns=[CUTOFF])
    # Arrow-backed strings (pandas 3) reach Spark as chunked arrays, which it refuses
    return rows.astype({ENTITY: object, "country": object})


def _output_columns(settings: FeatureSettings, ranges: list[CutoffRange]) -> list[str]:
    """Return the bucket function's columns, from the function itself on one entity."""
    day = ranges[0].first - 1
    one = pd.DataFrame({ENTITY: ["x"], "day": [day], "first_purchase": [day]})
    for measure in MEASURES:
        one[measure] = 0
    one["last_purchase"] = float(day)
    one["country"] = None
    probe = [
        CutoffRange(first=r.first, last=r.first, every=r.every, end_day=r.end_day) for r in ranges
    ]
    return list(_snapshot_rows(one, settings, probe).columns)


def _bucket_schema(columns: list[str]) -> Any:
    from pyspark.sql.types import (
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    special = {ENTITY: StringType(), "country": StringType(), _KIND: IntegerType()}
    special[_CUTOFF_DAY] = LongType()
    return StructType(
        [StructField(name, special.get(name, DoubleType()), True) for name in columns]
    )


def _btyd_fits(rows: SparkFrame, seed: int) -> dict[tuple[int, int], tuple[Any, Any]]:
    """Fit BG/NBD and Gamma-Gamma once per (kind, cutoff), over all its entities."""
    from pyspark.sql.types import DoubleType, IntegerType, LongType, StructField, StructType

    names = ("r", "alpha", "a", "b", "p", "q", "v")
    inputs = [f"{BTYD_INPUT_PREFIX}{name}" for name in _BTYD_INPUTS]

    def fit(cutoff_rows: pd.DataFrame) -> pd.DataFrame:
        # one cutoff's rows in entity-id order: the seeded sample above MAX_FIT_CUSTOMERS
        # does not depend on how Spark delivered them
        ordered = cutoff_rows.sort_values(ENTITY, kind="stable")
        x, t_x, age, repeat = (ordered[column].to_numpy(dtype=np.float64) for column in inputs[:4])
        params = fit_bgnbd(x, t_x, age, seed=seed)
        spend = fit_gamma_gamma(x, repeat, seed=seed)
        values = [params.r, params.alpha, params.a, params.b]
        values += [spend.p, spend.q, spend.v] if spend is not None else [np.nan] * 3
        head = ordered.iloc[:1]
        return pd.DataFrame(
            {_KIND: head[_KIND].to_numpy(), _CUTOFF_DAY: head[_CUTOFF_DAY].to_numpy()}
            | {name: [value] for name, value in zip(names, values, strict=True)}
        )

    schema = StructType(
        [StructField(_KIND, IntegerType()), StructField(_CUTOFF_DAY, LongType())]
        + [StructField(name, DoubleType()) for name in names]
    )
    fitted = (
        rows.select(ENTITY, _KIND, _CUTOFF_DAY, *inputs)
        .groupBy(_KIND, _CUTOFF_DAY)
        .applyInPandas(fit, schema)
        .toPandas()
    )
    fits: dict[tuple[int, int], tuple[Any, Any]] = {}
    for values in fitted.to_dict("records"):  # one per cutoff, not per entity
        spend = (
            None
            if np.isnan(values["p"])
            else GammaGammaParams(values["p"], values["q"], values["v"])
        )
        bgnbd = BgNbdParams(values["r"], values["alpha"], values["a"], values["b"])
        fits[(int(values[_KIND]), int(values[_CUTOFF_DAY]))] = (bgnbd, spend)
    return fits


def _with_btyd(rows: SparkFrame, settings: FeatureSettings, seed: int) -> SparkFrame:
    """Fill ``baseline_btyd`` from each cutoff's broadcast fit; drop its inputs."""
    fits = rows.sparkSession.sparkContext.broadcast(_btyd_fits(rows, seed))
    inputs = [f"{BTYD_INPUT_PREFIX}{name}" for name in _BTYD_INPUTS]
    horizon = settings.horizon_days

    def fill(batches: Any) -> Any:
        for batch in batches:
            key = batch[_KIND].to_numpy(np.int64) * (1 << 40) + batch[_CUTOFF_DAY].to_numpy(
                np.int64
            )
            expected = np.zeros(len(batch))
            for value in np.unique(key):  # one pass per cutoff, never per entity
                rows_of = key == value
                bgnbd, spend = fits.value[(int(value >> 40), int(value & ((1 << 40) - 1)))]
                arrays = (batch.loc[rows_of, column].to_numpy(np.float64) for column in inputs)
                expected[rows_of] = btyd_spend(bgnbd, spend, horizon, *arrays)
            batch[_BTYD] = expected
            yield batch

    return rows.mapInPandas(fill, rows.schema)


def build_panel_spark(
    transactions: SparkFrame,
    settings: FeatureSettings,
    *,
    buckets: int | None = None,
    seed: int = 0,
) -> SparkPanel:
    """Return the panel and the latest snapshot of cleaned transactions, built on Spark.

    Args:
        transactions: the cleaned-transactions contract as a Spark frame (e.g.
            ``spark.read.parquet`` of ``glocal ingest``'s ``transactions.parquet``; a
            ``timestamp`` read as nanoseconds since 1970 is accepted).
        settings: the feature settings, as for the local builder.
        buckets: how many buckets the entities are hashed into (default: twice the
            default parallelism).
        seed: seed of the BG/NBD fits' sample at very large cutoffs.

    Returns:
        A :class:`SparkPanel` whose frames equal ``build_panel_and_latest`` (see the
        module docstring for the one exception).

    Raises:
        DataValidationError: a required column is missing or malformed, or there is no
            purchase.
        ConfigError: ``first_cutoff``/``last_cutoff`` lie outside the data.

    """
    from pyspark.sql import functions as sf

    spark = transactions.sparkSession
    lines = _lines(transactions)
    lines.createOrReplaceTempView("glocal_lines")
    first_purchase, last_day = _span(lines)
    countries = None
    if "country" in transactions.columns:
        found = lines.where(sf.col("country").isNotNull()).select("country").distinct().collect()
        countries = sorted(row["country"] for row in found)
    panel_range = resolve_cutoff_range(first_purchase, last_day, settings)
    full = resolve_cutoff_range(
        first_purchase,
        last_day,
        settings.model_copy(update={"first_cutoff": None, "last_cutoff": None}),
    )
    latest_range = CutoffRange(
        first=full.last, last=full.last, every=full.every, end_day=full.end_day
    )
    ranges = [panel_range, latest_range]
    day_sql = DAY_SQL.replace("$day_ctes", day_ctes("glocal_lines"))
    days = spark.sql(day_sql.replace("$detail_window", str(settings.detail_window_days)))
    count = buckets or 2 * spark.sparkContext.defaultParallelism
    columns = _output_columns(settings, ranges)

    def snapshot_bucket(bucket_days: pd.DataFrame) -> pd.DataFrame:
        return _snapshot_rows(bucket_days.drop(columns=_BUCKET), settings, ranges)[columns]

    rows = (
        days.withColumn(_BUCKET, sf.pmod(sf.hash(ENTITY), sf.lit(count)))
        .groupBy(_BUCKET)
        .applyInPandas(snapshot_bucket, _bucket_schema(columns))
    )
    cached = rows.cache()  # read by the fits, then by the panel and by the latest snapshot
    if settings.btyd:
        rows = _with_btyd(cached, settings, seed)
    cutoff = sf.date_add(sf.lit("1970-01-01").cast("date"), sf.col(_CUTOFF_DAY).cast("int"))
    features = [c for c in columns if c not in (ENTITY, _KIND, _CUTOFF_DAY, "target")]
    features = [c for c in features if not c.startswith(BTYD_INPUT_PREFIX)]
    if countries is None:
        features.remove("country")
    out = rows.select(
        ENTITY, cutoff.cast("timestamp_ntz").alias(CUTOFF), "target", *features, _KIND
    )
    return SparkPanel(
        panel=out.where(sf.col(_KIND) == 0).drop(_KIND),
        latest=out.where(sf.col(_KIND) == 1).drop(_KIND),
        countries=countries,
        cached=cached,
        both=out,
    )
