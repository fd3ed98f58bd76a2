"""Where the per-entity work runs: this process, or a Spark cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from glocal.config.base import Section

__all__ = ["Engine", "SparkSettings"]

Engine = Literal["local", "spark"]
"""``local``: the per-entity fits run in this process; ``spark``: on a Spark cluster."""


class SparkSettings(Section):
    """The Spark cluster of ``engine: spark`` (PySpark from the ``spark`` extra)."""

    master: str = Field(
        default="local[*]",
        min_length=1,
        description=(
            "Spark master URL: local[*] (every core of this machine), local[N], "
            "spark://host:7077, yarn, k8s://..."
        ),
    )
    buckets: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Buckets the entities are hashed into, one vectorized fit per bucket; empty: "
            "twice the cluster's default parallelism."
        ),
    )
