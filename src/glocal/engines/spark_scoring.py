"""Batch scoring on Spark: the saved model broadcast to the executors, scored in batches.

The driver reads every file of a saved model (a bundle directory: JSON, Parquet and
LightGBM text, nothing that runs code when read) into one broadcast value. Each Python
worker writes those files into a private temporary directory once, loads the model with
:func:`glocal.models.persistence.load_hybrid`, and scores its Arrow batches of snapshot
rows with :meth:`HybridModel.predict` (``mapInPandas``): one vectorized call per batch,
never one per entity. The rows never come to the driver; the result is a Spark frame.

A file name of the model is checked before it is written on a worker: relative, inside the
directory, no ``..``. Entity ids never become file names.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from glocal.core.errors import ModelError
from glocal.models.frames import ENTITY_COLUMN
from glocal.models.hybrid import PREDICTION_COLUMNS, HybridModel
from glocal.models.persistence import load_hybrid

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame

__all__ = ["model_files", "score_spark"]

_LOADED: dict[str, HybridModel] = {}  # per Python worker: digest -> model


def model_files(directory: Path) -> dict[str, bytes]:
    """Return every file of a saved model as ``{relative POSIX path: bytes}``.

    Raises:
        ModelError: ``directory`` holds no saved model (no ``hybrid.json``).

    """
    if not (directory / "hybrid.json").is_file():
        raise ModelError(
            f"{directory} holds no saved model (hybrid.json is missing); pass a bundle "
            "directory (models/bundles/<run_id>) or a directory written by save_hybrid."
        )
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise ModelError(f"the broadcast model names a file outside its directory: {name!r}.")
    return path


def _model_of(digest: str, files: dict[str, bytes]) -> HybridModel:
    """Load the broadcast model once per Python worker."""
    if digest not in _LOADED:
        root = Path(tempfile.mkdtemp(prefix="glocal-model-"))
        for name, content in files.items():
            target = root.joinpath(*_safe_relative(name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        _LOADED[digest] = load_hybrid(root)
    return _LOADED[digest]


def _schema() -> Any:
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    text = {ENTITY_COLUMN, "source"}
    return StructType(
        [
            StructField(name, StringType() if name in text else DoubleType(), True)
            for name in PREDICTION_COLUMNS
        ]
    )


def score_spark(
    snapshot: SparkFrame, model_directory: Path, model: HybridModel | None = None
) -> SparkFrame:
    """Score snapshot rows on Spark with the saved model in ``model_directory``.

    Args:
        snapshot: Spark rows with ``entity_id`` and the model's feature columns (e.g.
            ``features_latest.parquet`` read with ``spark.read.parquet``).
        model_directory: A bundle directory (or any ``save_hybrid`` output).
        model: The model of ``model_directory`` if the caller has it loaded already
            (the driver then does not read it again).

    Returns:
        A Spark frame of :data:`~glocal.models.hybrid.PREDICTION_COLUMNS`, one row per
        input row, exactly what ``HybridModel.predict`` gives for the same rows.

    Raises:
        ModelError: ``model_directory`` holds no saved model, or cannot be loaded.
        ConfigError: (when the job runs) ``snapshot`` lacks a feature column.

    """
    files = model_files(model_directory)
    if model is None:  # fails here, on the driver, if it cannot load
        model = load_hybrid(model_directory)
    missing = [c for c in [ENTITY_COLUMN, *model.feature_columns_] if c not in snapshot.columns]
    if missing:
        raise ModelError(
            f"the snapshot lacks column(s) {missing} that the model needs; score a snapshot "
            "built with the model's feature settings (features_latest.parquet)."
        )
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    key = digest.hexdigest()
    shared = snapshot.sparkSession.sparkContext.broadcast(files)
    columns = [ENTITY_COLUMN, *model.feature_columns_]
    categorical = list(model.categorical_columns_)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        fitted = _model_of(key, shared.value)
        for batch in batches:
            rows = batch.assign(**{ENTITY_COLUMN: batch[ENTITY_COLUMN].astype(str)})
            for column in categorical:  # Spark hands categories over as plain text
                rows[column] = rows[column].astype("category")
            result = fitted.predict(rows)
            yield result.astype({ENTITY_COLUMN: object, "source": object})

    return snapshot.select(*columns).mapInPandas(score, _schema())
