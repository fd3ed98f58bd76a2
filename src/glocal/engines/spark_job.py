r"""A ``spark-submit`` job: fit the per-entity ridge banks of a Parquet panel on a cluster.

Reads the panel with Spark (any path or URI the cluster reads: ``s3://``, ``gs://``,
``abfss://``, ``dbfs:/``, HDFS), fits one bank per target column with
:func:`glocal.engines.spark_bank.fit_local_banks_spark`, and writes the banks with Spark as
Parquet, one row per entity and target (the layout of ``LocalModelBank.to_frame`` plus a
``bank`` column). The master is whatever ``spark-submit`` was given (``--master``)::

    JOB="$(python -c 'import glocal.engines.spark_job as j; print(j.__file__)')"
    spark-submit --master yarn "$JOB" \
        --panel s3://shop/panel.parquet --features recency_days,frequency_90d \
        --targets target --output s3://shop/banks

Bad arguments or a missing column print one line naming the problem and exit with code 2;
no traceback. ``docs/scale.md`` shows the same command on Databricks, EMR and Dataproc.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from glocal.core.errors import ConfigError, ModelError
from glocal.engines.spark_bank import BANK_COLUMN, fit_local_banks_spark, submitted_session

__all__ = ["main"]


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one column name, comma-separated")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glocal.engines.spark_job",
        description="Fit glocal's per-entity ridge banks of a Parquet panel on Spark.",
    )
    parser.add_argument("--panel", required=True, help="Parquet path or URI of the panel")
    parser.add_argument("--features", required=True, type=_names, help="numeric features")
    parser.add_argument(
        "--targets", default=["target"], type=_names, help="target columns (default: target)"
    )
    parser.add_argument("--output", required=True, help="where to write the banks (Parquet)")
    parser.add_argument("--min-train-rows", type=int, default=8, help="fewer rows: no model")
    parser.add_argument("--buckets", type=int, default=None, help="default: 2 x parallelism")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the exit code (0 done, 2 bad input)."""
    args = _parser().parse_args(argv)
    from pyspark.errors import AnalysisException

    spark = submitted_session("glocal-local-banks")
    try:
        panel = spark.read.parquet(args.panel)
        banks = fit_local_banks_spark(
            panel,
            args.targets,
            feature_columns=args.features,
            min_train_rows=args.min_train_rows,
            buckets=args.buckets,
        )
    except AnalysisException as exc:
        print(f"error: cannot read the panel {args.panel}: {exc.getMessage()}", file=sys.stderr)
        return 2
    except (ConfigError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = pd.concat(
        [bank.to_frame().assign(**{BANK_COLUMN: name}) for name, bank in banks.items()],
        ignore_index=True,
    )
    text = dict.fromkeys(("entity_id", BANK_COLUMN), object)
    try:  # an existing output is never overwritten; Spark commits the files when complete
        spark.createDataFrame(rows.astype(text)).write.parquet(args.output)
    except AnalysisException as exc:
        print(f"error: cannot write {args.output}: {exc.getMessage()}", file=sys.stderr)
        return 2
    print(f"wrote {len(rows):,} bank rows ({', '.join(banks)}) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
