"""Engines that run glocal's per-entity work elsewhere than in this process.

* :mod:`glocal.engines.spark_bank`: the per-entity ridge banks fitted on Spark, entities
  hashed into buckets and each bucket fitted in one vectorized call of the same kernel
  the local engine uses (optional extra ``spark``).
* :mod:`glocal.engines.spark_job`: the same fit as a ``spark-submit`` job, Parquet in and
  out, for a cluster (``docs/scale.md``).
"""

from __future__ import annotations

__all__: list[str] = []
