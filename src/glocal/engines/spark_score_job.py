r"""A ``spark-submit`` job: batch-score a Parquet snapshot with a bundle, on a cluster.

Reads the snapshot with Spark (any path or URI the cluster reads), broadcasts the bundle
(a directory on the driver: ``models/bundles/<run_id>``) with
:func:`glocal.engines.spark_scoring.score_spark`, and writes one row per snapshot row
(``entity_id, prediction, source, global_prediction, local_prediction``) as Parquet::

    JOB="$(python -c 'import glocal.engines.spark_score_job as j; print(j.__file__)')"
    spark-submit --master yarn "$JOB" --snapshot s3://shop/features_latest.parquet \
        --bundle /opt/glocal/shop/models/bundles/20261206T220148Z-5698b0 \
        --output s3://shop/predictions/2026-12-07

An existing output is never overwritten. Bad input (an unreadable snapshot, a directory
without a model, a missing feature column) prints one ``error:`` line and exits with
code 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from glocal.core.errors import ConfigError, ModelError
from glocal.engines.spark_bank import submitted_session
from glocal.engines.spark_scoring import score_spark

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glocal.engines.spark_score_job",
        description="Score a Parquet snapshot with a glocal bundle on Spark.",
    )
    parser.add_argument("--snapshot", required=True, help="Parquet path or URI of the rows")
    parser.add_argument("--bundle", required=True, type=Path, help="bundle directory (driver)")
    parser.add_argument("--output", required=True, help="where to write the scores (Parquet)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the exit code (0 done, 2 bad input)."""
    args = _parser().parse_args(argv)
    from pyspark.errors import AnalysisException

    spark = submitted_session("glocal-score")
    try:
        snapshot = spark.read.parquet(args.snapshot)
        scores = score_spark(snapshot, args.bundle)
    except AnalysisException as exc:
        print(f"error: cannot read {args.snapshot}: {exc.getMessage()}", file=sys.stderr)
        return 2
    except (ConfigError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:  # Spark commits the files only when every task is done
        scores.write.parquet(args.output)
    except AnalysisException as exc:
        print(f"error: cannot write {args.output}: {exc.getMessage()}", file=sys.stderr)
        return 2
    print(f"wrote the scores of {args.snapshot} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
