"""Saving and loading a fitted :class:`HybridModel` without pickle.

A saved model is a directory of formats that cannot run code when read::

    hybrid.json                       format version, settings, features, folds, report
    global/stage.json                 the global stage: members, components, its report
    global/member_<i>/global_model.*  a member learner: LightGBM text model + JSON sidecar
    banks/<kind>/<sha>.parquet        a ridge bank ('direct', 'residual'), a row per entity
    corrections/<kind>/<sha>.parquet  'level', 'scale' or 'intermittent' values, per entity
    decisions/<sha>.parquet           the per-entity selection table (``decisions_``)

Each per-entity table is a list of layers (:mod:`glocal.models.table_layers`): saved
against a *base* (the parent run's saved model), a table keeps the base's layer files as
hard links and adds only the rows that changed, and global model files identical to the
base's are hard links too. Entity ids are a column inside the Parquet files, never part
of a file name. A loaded model predicts exactly (bit for bit) what the saved one did.

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> from glocal.config.models import GlobalModelSettings
    >>> import tempfile
    >>> panel, _ = make_synthetic_panel(40, 24, 3, heterogeneity=1.0, noise=0.3, seed=0)
    >>> history = panel[panel.cutoff < "2020-05-01"]
    >>> folds = SplitSettings(validation_days=14)  # weekly one-week targets: short folds
    >>> model = HybridModel(
    ...     GlobalModelSettings(params={"n_estimators": 30}), split=folds, horizon_days=7
    ... ).fit(history)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     restored = load_hybrid(save_hybrid(model, Path(tmp) / "model"))
    >>> restored.predict(panel).equals(model.predict(panel))
    True

"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pandas as pd

from glocal.config.features import SplitSettings
from glocal.config.models import GlobalModelSettings, LocalModelSettings, SelectionSettings
from glocal.core.errors import ModelError
from glocal.core.links import share_identical_files
from glocal.core.records import read_versioned_json
from glocal.features.split import Fold
from glocal.models.candidates import CandidateSet
from glocal.models.corrections import CorrectionKind, ShrunkCorrection
from glocal.models.global_stage import GlobalStage
from glocal.models.hybrid import HybridModel
from glocal.models.local_bank import LocalModelBank
from glocal.models.table_layers import Layer, read_table, write_table

__all__ = ["HYBRID_FORMAT_VERSION", "load_hybrid", "read_saved_decisions", "save_hybrid"]

HYBRID_FORMAT_VERSION = 3
"""Version of the saved-model layout; :func:`load_hybrid` reads versions 2 and 3.

Version 2 (glocal 0.2) replaced the single global model by the global stage; a version 1
model cannot be read, and ``glocal run`` retrains instead. Version 3 saves the per-entity
tables as layers (one Parquet file per table in version 2)."""

_OLDEST_READABLE = 2

_FORMAT = "glocal-hybrid"
_META_FILE = "hybrid.json"
_GLOBAL_DIR = "global"
_BANKS_DIR = "banks"
_CORRECTIONS_DIR = "corrections"
_DECISIONS_FILE = "decisions.parquet"
_DECISIONS_TABLE = "decisions"


def _dump(settings: Any) -> dict[str, Any] | None:
    return None if settings is None else cast(dict[str, Any], settings.model_dump(mode="json"))


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path} of a saved hybrid model: {exc}") from exc


def _check_saveable(model: HybridModel) -> None:
    if not hasattr(model, "decisions_"):
        raise ModelError("this HybridModel is not fitted yet; call fit() before saving it.")


def _base_tables(base: Path | None) -> dict[str, list[Layer]]:
    """Return the layered tables of the saved model at ``base`` ({} if unusable)."""
    if base is None:
        return {}
    try:
        meta = _read_meta(base)
    except ModelError:
        return {}
    tables = meta.get("tables")
    return dict(tables) if isinstance(tables, dict) else {}


def _tables(model: HybridModel) -> dict[str, pd.DataFrame]:
    candidates = model.candidates_
    tables = {f"{_BANKS_DIR}/{kind}": b.to_frame() for kind, b in candidates.banks_.items()}
    for kind, correction in candidates.corrections_.items():
        tables[f"{_CORRECTIONS_DIR}/{kind}"] = correction.to_frame()
    tables[_DECISIONS_TABLE] = model.decisions_
    return dict(sorted(tables.items()))


def save_hybrid(model: HybridModel, directory: str | Path, base: str | Path | None = None) -> Path:
    """Write a fitted hybrid model into ``directory`` (LightGBM text, Parquet, JSON).

    ``directory`` must be missing or empty, so files of two models are never mixed. The
    write is not atomic on its own: :func:`glocal.registry.write_bundle` wraps it in a
    temporary directory that is renamed into place only when complete.

    ``base`` is the saved model this one was derived from (the parent run's): the files
    that did not change are hard links to its files, and each per-entity table adds only
    its changed rows (:mod:`glocal.models.table_layers`). A missing or unreadable base
    only means that everything is written.

    Returns:
        ``directory`` as a :class:`~pathlib.Path`.

    Raises:
        ModelError: The model is not fitted, its global model is a scikit-learn regressor
            (no safe format), or ``directory`` is not empty.
        OSError: The disk is full or not writable (the caller decides how to report it).

    """
    _check_saveable(model)
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise ModelError(f"cannot save the hybrid model into {target}: it is not empty.")
    target.mkdir(parents=True, exist_ok=True)
    base_dir = None if base is None else Path(base)
    model.global_stage_.save(target / _GLOBAL_DIR)
    if base_dir is not None and (base_dir / _GLOBAL_DIR).is_dir():
        share_identical_files(target / _GLOBAL_DIR, base_dir / _GLOBAL_DIR)
    base_tables = _base_tables(base_dir)
    tables = {
        name: write_table(
            frame,
            target,
            name,
            base=None
            if base_dir is None or name not in base_tables
            else (base_dir, base_tables[name]),
        )
        for name, frame in _tables(model).items()
    }
    candidates = model.candidates_
    meta = {
        "format": _FORMAT,
        "format_version": HYBRID_FORMAT_VERSION,
        "seed": model.seed,
        "settings": {
            "global_model": _dump(model.global_model),
            "local_models": _dump(model.local_models),
            "selection": _dump(model.selection),
            "split": _dump(model.split),
        },
        "horizon_days": model.horizon_days,
        "objective": model.objective,
        "candidate_settings": _dump(candidates.settings),
        "candidate_feature_columns": list(candidates.feature_columns),
        "banks": sorted(candidates.banks_),
        "corrections": {
            kind: {"shrinkage_rows": c.shrinkage_rows, "min_train_rows": c.min_train_rows}
            for kind, c in sorted(candidates.corrections_.items())
        },
        "feature_columns": list(model.feature_columns_),
        "categorical_columns": list(model.categorical_columns_),
        "local_feature_columns": list(model.local_feature_columns_),
        "folds": [
            {
                "index": fold.index,
                "train_end": fold.train_end.isoformat(),
                "start": fold.start.isoformat(),
                "end": fold.end.isoformat(),
            }
            for fold in model.folds_
        ],
        "dependence_lags": model.lags_,
        "guard_level": model.guard_level_,
        "report": model.report_,
        "tables": tables,
    }
    text = json.dumps(meta, indent=2, sort_keys=True, default=float) + "\n"
    (target / _META_FILE).write_text(text, encoding="utf-8")
    return target


def _read_meta(source: Path) -> dict[str, Any]:
    meta = read_versioned_json(
        source / _META_FILE,
        format_name=_FORMAT,
        max_version=HYBRID_FORMAT_VERSION,
        error=ModelError,
        missing=(
            f"{source} is not a saved hybrid model: {_META_FILE} is missing. "
            "Save one with glocal.models.persistence.save_hybrid."
        ),
        what="hybrid model description",
    )
    if int(meta["format_version"]) < _OLDEST_READABLE:
        raise ModelError(
            f"{source / _META_FILE} holds a version {meta['format_version']} hybrid model; "
            f"this glocal reads versions {_OLDEST_READABLE}-{HYBRID_FORMAT_VERSION}. Retrain "
            "it (glocal run --retrain-global)."
        )
    return meta


def _table(source: Path, meta: dict[str, Any], name: str) -> pd.DataFrame:
    """Read the per-entity table ``name`` (layers from version 3, one file before)."""
    tables = meta.get("tables")
    if isinstance(tables, dict):
        if name not in tables:
            raise ModelError(f"{source / _META_FILE} lists no table {name!r}; re-run.")
        return read_table(source, list(tables[name]))
    legacy = _DECISIONS_FILE if name == _DECISIONS_TABLE else f"{name}.parquet"
    return _read_parquet(source / legacy)


def read_saved_decisions(directory: str | Path) -> pd.DataFrame:
    """Return the per-entity selection table of a saved model without loading the model.

    Raises:
        ModelError: The model's description or its decisions table cannot be read.

    """
    source = Path(directory)
    return _table(source, _read_meta(source), _DECISIONS_TABLE)


def _load_bank(table: pd.DataFrame, settings: LocalModelSettings) -> LocalModelBank:
    bank = LocalModelBank.from_frame(table)
    # hyper-parameters as fit_local_banks sets them; prediction only needs the arrays
    bank.alphas = settings.alphas
    bank.standardize = settings.standardize
    bank.min_train_rows = settings.min_train_rows
    bank.n_jobs = settings.n_jobs
    bank.clip = settings.clip
    return bank


def _load_candidates(source: Path, meta: dict[str, Any]) -> CandidateSet:
    settings = LocalModelSettings.model_validate(meta["candidate_settings"])
    banks = {
        kind: _load_bank(_table(source, meta, f"{_BANKS_DIR}/{kind}"), settings)
        for kind in meta["banks"]
    }
    corrections: dict[str, ShrunkCorrection] = {}
    for kind, params in meta["corrections"].items():
        corrections[kind] = ShrunkCorrection.from_frame(
            _table(source, meta, f"{_CORRECTIONS_DIR}/{kind}"),
            cast(CorrectionKind, kind),
            shrinkage_rows=float(params["shrinkage_rows"]),
            min_train_rows=int(params["min_train_rows"]),
            objective=meta["objective"],
        )
    return CandidateSet.from_fitted(
        settings, list(meta["candidate_feature_columns"]), banks, corrections, meta["objective"]
    )


def _section(saved: dict[str, Any], key: str, cls: Any) -> Any:
    return None if saved.get(key) is None else cls.model_validate(saved[key])


def load_hybrid(directory: str | Path) -> HybridModel:
    """Read a hybrid model written by :func:`save_hybrid`; it predicts exactly as saved.

    Raises:
        ModelError: A file is missing or unreadable, or the format is newer than this glocal.

    """
    source = Path(directory)
    meta = _read_meta(source)
    saved = meta["settings"]
    try:
        global_settings = _section(saved, "global_model", GlobalModelSettings)
        model = HybridModel(
            global_model=global_settings,
            local_models=_section(saved, "local_models", LocalModelSettings),
            selection=_section(saved, "selection", SelectionSettings),
            seed=int(meta["seed"]),
            split=_section(saved, "split", SplitSettings),
            horizon_days=int(meta["horizon_days"]),
            objective=meta["objective"],
        )
        stage = GlobalStage.load(source / _GLOBAL_DIR, global_settings)
        candidates = _load_candidates(source, meta)
        model.folds_ = [
            Fold(
                int(fold["index"]),
                pd.Timestamp(fold["train_end"]),
                pd.Timestamp(fold["start"]),
                pd.Timestamp(fold["end"]),
            )
            for fold in meta["folds"]
        ]
        model.lags_ = int(meta["dependence_lags"])
        model.guard_level_ = float(meta["guard_level"])
        model.report_ = dict(meta["report"])
        model.feature_columns_ = list(meta["feature_columns"])
        model.categorical_columns_ = list(meta["categorical_columns"])
        model.local_feature_columns_ = list(meta["local_feature_columns"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{source / _META_FILE} lacks or mistypes the key {exc}.") from exc
    model.global_stage_ = stage
    model.candidates_ = candidates
    model.local_bank_ = candidates.banks_["direct"]
    model.decisions_ = _table(source, meta, _DECISIONS_TABLE)
    return model
