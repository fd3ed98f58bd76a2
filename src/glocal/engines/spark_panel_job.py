r"""A ``spark-submit`` job: build the point-in-time panel of cleaned transactions on a cluster.

Reads the cleaned transactions with Spark (any path or URI the cluster reads: the
``transactions.parquet`` that ``glocal ingest`` writes, or a directory of Parquet files in
the same contract), builds the panel and the latest snapshot with
:func:`glocal.engines.spark_panel.build_panel_spark`, and writes them with Spark as
Parquet under ``<output>/panel`` and ``<output>/latest``. The driver never collects the
transactions. The feature settings come from a glocal settings file (``--config``) or are
the defaults::

    JOB="$(python -c 'import glocal.engines.spark_panel_job as j; print(j.__file__)')"
    spark-submit --master yarn "$JOB" --transactions s3://shop/transactions.parquet \
        --config settings.yaml --output s3://shop/panel-2011-12-10

Bad arguments, a bad settings file or a missing column print one line naming the problem
and exit with code 2; no traceback. An existing output is never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glocal.config import load_settings
from glocal.core.errors import ConfigError, DataValidationError
from glocal.engines.spark_bank import submitted_session
from glocal.engines.spark_panel import build_panel_spark

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glocal.engines.spark_panel_job",
        description="Build glocal's point-in-time panel of cleaned transactions on Spark.",
    )
    parser.add_argument(
        "--transactions", required=True, help="Parquet path or URI of the cleaned transactions"
    )
    parser.add_argument("--output", required=True, help="where to write panel/ and latest/")
    parser.add_argument("--config", type=Path, default=None, help="a glocal settings file")
    parser.add_argument("--buckets", type=int, default=None, help="default: 2 x parallelism")
    return parser


def _exists(spark: Any, uri: str) -> bool:
    """Whether ``uri`` exists, asked of the file system the cluster writes to."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the exit code (0 done, 2 bad input)."""
    args = _parser().parse_args(argv)
    from pyspark.errors import AnalysisException

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = submitted_session("glocal-panel")
    output = args.output.rstrip("/")
    try:
        transactions = spark.read.parquet(args.transactions)
    except AnalysisException as exc:
        print(f"error: cannot read {args.transactions}: {exc.getMessage()}", file=sys.stderr)
        return 2
    if _exists(spark, output):
        print(
            f"error: {output} exists; give a new --output (it is never overwritten)",
            file=sys.stderr,
        )
        return 2
    try:
        built = build_panel_spark(transactions, settings.features, buckets=args.buckets)
        # Spark commits each directory when it is complete
        built.latest.write.parquet(f"{output}/latest")
        built.panel.write.parquet(f"{output}/panel")
    except (ConfigError, DataValidationError) as exc:
        print(f"error: {args.transactions}: {exc}", file=sys.stderr)
        return 2
    except AnalysisException as exc:
        print(f"error: cannot write {output}: {exc.getMessage()}", file=sys.stderr)
        return 2
    print(f"wrote the panel and the latest snapshot of {args.transactions} to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
