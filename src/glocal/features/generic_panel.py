"""Generic panel mode: read a ready (entity, time, features, target) table from a file.

Stores, diagnosis groups, products: any table with one row per entity and time works once
its columns are declared in the ``panel:`` settings. The output follows the same contract
as a panel built from transactions (see :mod:`glocal.features.schema`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from glocal.config.features import PanelSettings
from glocal.core.errors import DataFileError, DataValidationError
from glocal.features.schema import CUTOFF, ENTITY, TARGET, finalize_panel

__all__ = ["latest_rows", "load_generic_panel"]

_EXAMPLES = 5


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(
            f"panel file {path} does not exist. Set panel.path in settings.yaml or pass "
            "--panel FILE."
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"cannot read panel file {path}: {exc}") from exc
    raise DataFileError(
        f"panel file {path} has the suffix '{suffix}'; generic panel mode reads .csv and "
        ".parquet files."
    )


def _require_columns(frame: pd.DataFrame, panel: PanelSettings, path: Path) -> list[str]:
    """Check the declared columns exist; return the feature columns."""
    declared = {
        "panel.entity_column": [panel.entity_column],
        "panel.time_column": [panel.time_column],
        "panel.target_column": [panel.target_column],
        "panel.feature_columns": panel.feature_columns or [],
        "panel.categorical_columns": panel.categorical_columns,
    }
    found = list(frame.columns)
    for key, columns in declared.items():
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise DataValidationError(
                f"column(s) {missing} declared in {key} are missing from {path.name}; "
                f"found columns: {found}. Set {key} to the name(s) used in the file."
            )
    keys = {panel.entity_column, panel.time_column, panel.target_column}
    features = panel.feature_columns or [column for column in found if column not in keys]
    clashes = [column for column in features if column in keys]
    if clashes:
        raise DataValidationError(
            f"panel.feature_columns lists {clashes}, which are the entity, time or target "
            "column; remove them from panel.feature_columns."
        )
    stray = [column for column in panel.categorical_columns if column not in features]
    if stray:
        raise DataValidationError(
            f"panel.categorical_columns lists {stray}, which are not feature columns "
            f"({features}); add them to panel.feature_columns or remove them."
        )
    return features


def _check_keys(frame: pd.DataFrame, panel: PanelSettings) -> None:
    entity, time = frame[panel.entity_column], frame[panel.time_column]
    for key, column in (("panel.entity_column", entity), ("panel.time_column", time)):
        empty = int(column.isna().sum())
        if empty:
            raise DataValidationError(
                f"column '{column.name}' ({key}) has {empty} empty value(s); every row "
                "needs an entity and a time."
            )
    duplicated = frame.duplicated([panel.entity_column, panel.time_column], keep=False)
    if duplicated.any():
        examples = (
            frame.loc[duplicated, [panel.entity_column, panel.time_column]]
            .drop_duplicates()
            .head(_EXAMPLES)
            .itertuples(index=False, name=None)
        )
        shown = ", ".join(f"({e!s}, {t!s})" for e, t in examples)
        raise DataValidationError(
            f"the panel has {int(duplicated.sum())} rows that share their (entity, time) "
            f"pair with another row, e.g. {shown}. Keep one row per '{panel.entity_column}' "
            f"and '{panel.time_column}' (aggregate or drop duplicates before loading)."
        )


def _parse_time(column: pd.Series, key: str) -> pd.Series:
    try:
        with warnings.catch_warnings():
            # mixed or unusual formats fall back to per-element parsing, which is fine here
            warnings.simplefilter("ignore", UserWarning)
            return pd.to_datetime(column)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"column '{column.name}' ({key}) cannot be read as dates: {exc}. Use ISO dates "
            "such as 2011-03-07."
        ) from None


def _numeric(column: pd.Series, key: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("float64")
    converted = pd.to_numeric(column, errors="coerce")
    bad = column[converted.isna() & column.notna()]
    if not bad.empty:
        examples = [str(value) for value in bad.unique()[:_EXAMPLES]]
        hint = (
            "the target must be numeric"
            if key == "panel.target_column"
            else "list the column in panel.categorical_columns if it is a category"
        )
        raise DataValidationError(
            f"column '{column.name}' ({key}) holds non-numeric values, e.g. {examples}; {hint}."
        )
    return converted.astype("float64")


def load_generic_panel(path: Path, panel: PanelSettings) -> pd.DataFrame:
    """Read a user's panel from CSV or Parquet and return it in the panel contract.

    The entity column becomes ``entity_id`` (string), the time column ``cutoff``
    (``datetime64[us]``), the target ``target`` (float64; empty cells are unknown
    targets); declared categorical columns become ``category`` dtype and every other
    feature float64.

    Raises:
        DataFileError: if the file is missing or unreadable.
        DataValidationError: if a declared column is missing, (entity, time) pairs repeat,
            or the target or a numeric feature holds non-numeric values.

    Examples:
        >>> import tempfile
        >>> stores = pd.DataFrame({"store": [1, 1], "week": ["2024-01-01", "2024-01-08"],
        ...                        "sales": [10.0, 12.5], "size": ["S", "S"]})
        >>> file = Path(tempfile.mkdtemp()) / "stores.csv"
        >>> stores.to_csv(file, index=False)
        >>> settings = PanelSettings(mode="panel", entity_column="store", time_column="week",
        ...                          target_column="sales", categorical_columns=["size"])
        >>> list(load_generic_panel(file, settings).columns)
        ['entity_id', 'cutoff', 'target', 'size']

    """
    frame = _read(path)
    features = _require_columns(frame, panel, path)
    _check_keys(frame, panel)
    target = _numeric(frame[panel.target_column], "panel.target_column")
    if target.isna().all():
        raise DataValidationError(
            f"the target column '{panel.target_column}' (panel.target_column) of {path.name} "
            "has no value at all; fill in the known targets."
        )
    out = pd.DataFrame(
        {
            ENTITY: frame[panel.entity_column].astype("str"),
            CUTOFF: _parse_time(frame[panel.time_column], "panel.time_column"),
            TARGET: target,
        }
    )
    categorical = set(panel.categorical_columns)
    for column in features:
        if column in categorical:
            out[column] = frame[column].astype("category")
        else:
            out[column] = _numeric(frame[column], "panel.feature_columns")
    return finalize_panel(out)


def latest_rows(panel: pd.DataFrame) -> pd.DataFrame:
    """Return each entity's last row: the snapshot of a generic panel used for scoring."""
    return panel.groupby(ENTITY, sort=False, observed=True).tail(1).reset_index(drop=True)
