"""Per-entity models on Spark ``local[2]``: glocal's bucketed fit against one fit per group.

A synthetic panel of 20,000 entities x 20 rows x 10 features is put in Spark and cached.
Then, in the same run:

1. glocal: :func:`glocal.engines.spark_bank.fit_local_banks_spark`, entities hashed into
   buckets, one vectorized ridge fit (5 penalties, per-entity GCV) per bucket;
2. the reference pattern: ``groupBy("entity_id").applyInPandas`` with one scikit-learn
   ``Ridge`` fit per entity (a single penalty: less work than glocal's).

Both return one row of coefficients per entity to the driver. Printed: seconds, ms per
model, and the ratio. Target: glocal >= 10x faster.

Usage: .venv/bin/python benchmarks/bench_spark_bank.py [--entities 20000] [--quick]
(needs the 'spark' extra and Java 17)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from glocal.engines.spark_bank import fit_local_banks_spark, spark_session

ROWS, FEATURES = 20, 10


def panel(entities: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(entities), ROWS)
    x = rng.normal(size=(entities * ROWS, FEATURES))
    coef = rng.normal(size=(entities, FEATURES))
    y = np.einsum("ij,ij->i", x, coef[codes]) + rng.normal(size=len(codes))
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(FEATURES)])
    frame.insert(0, "entity_id", np.array([f"E{i:06d}" for i in range(entities)], object)[codes])
    frame["target"] = y
    return frame.astype({"entity_id": object})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="1,000 entities: a smoke run")
    args = parser.parse_args()
    entities = 1_000 if args.quick else args.entities

    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    spark = spark_session("local[2]", "bench-spark-bank")
    features = [f"x{j}" for j in range(FEATURES)]
    frame = spark.createDataFrame(panel(entities)).cache()
    frame.count()
    print(
        f"Spark {spark.version} local[2]: {entities:,} entities x {ROWS} rows x {FEATURES} features"
    )

    start = time.perf_counter()
    banks = fit_local_banks_spark(frame, ["target"], feature_columns=features, min_train_rows=8)
    glocal_seconds = time.perf_counter() - start
    fitted = len(banks["target"].entity_ids_)

    schema = StructType(
        [StructField("entity_id", StringType())]
        + [StructField(f"coef_{f}", DoubleType()) for f in features]
        + [StructField("intercept", DoubleType())]
    )

    def fit_one(group: pd.DataFrame) -> pd.DataFrame:
        from sklearn.linear_model import Ridge

        model = Ridge(alpha=1.0).fit(group[features].to_numpy(), group["target"].to_numpy())
        row = {"entity_id": str(group["entity_id"].iloc[0]), "intercept": model.intercept_}
        row.update({f"coef_{f}": c for f, c in zip(features, model.coef_, strict=True)})
        return pd.DataFrame([row]).astype({"entity_id": object})

    start = time.perf_counter()
    reference = frame.groupBy("entity_id").applyInPandas(fit_one, schema).toPandas()
    reference_seconds = time.perf_counter() - start
    spark.stop()

    print(
        f"glocal bucketed fit (5 penalties, GCV): {glocal_seconds:7.1f} s "
        f"({1000 * glocal_seconds / fitted:.3f} ms/model, {fitted:,} models)"
    )
    print(
        f"applyInPandas, one sklearn Ridge each:  {reference_seconds:7.1f} s "
        f"({1000 * reference_seconds / len(reference):.3f} ms/model, {len(reference):,} models)"
    )
    ratio = reference_seconds / glocal_seconds
    print(f"ratio: {ratio:.1f}x (target >= 10x): {'PASS' if ratio >= 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
