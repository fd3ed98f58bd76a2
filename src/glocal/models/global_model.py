"""The global model: one learner trained on every entity's rows.

LightGBM by default: categorical features (pandas ``category`` columns) are handled
natively, training stops early on the validation block, and the model is then refitted on
train + validation with the best iteration count (``refit_on_validation``), so the final
model has seen the most recent data without choosing its size on it. A scikit-learn
regressor can be named instead; it gets categorical columns as ordinal codes and missing
numeric values imputed with the training medians.

With an ``offset`` (a ``baseline_*`` column of the panel), the learner is trained on the
target minus that baseline forecast and predicts the baseline plus its correction: trees
cannot extrapolate past their leaf values, a per-entity baseline can, and early stopping
keeps the correction no larger than the validation data supports.

LightGBM models are saved in LightGBM's text format plus a JSON sidecar; nothing is pickled.
Large batches are scored by :class:`~glocal.models.forest.CompiledForest`, which gives
LightGBM's numbers in about half the time; small ones by LightGBM itself.

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> from glocal.config.models import GlobalModelSettings, Objective
    >>> panel, _ = make_synthetic_panel(60, 20, 3, heterogeneity=0.0, noise=0.1, seed=0)
    >>> train, validation = panel[panel.cutoff < "2020-04-01"], panel[panel.cutoff >= "2020-04-01"]
    >>> settings = GlobalModelSettings(params={"n_estimators": 50})
    >>> model = GlobalModel(settings, seed=0).fit(train, validation)
    >>> model.predict(validation).shape == (len(validation),)
    True

"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, get_args

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import GlobalModelSettings, Objective
from glocal.core.errors import ModelError, NotFittedError
from glocal.models.estimators import LIGHTGBM, lightgbm_params, resolve_sklearn, sklearn_params
from glocal.models.forest import CompiledForest, load_kernel, use_compiled
from glocal.models.frames import (
    check_columns,
    check_target,
    concat_frames,
    panel_categorical_columns,
    panel_feature_columns,
)

__all__ = ["GlobalModel", "concurrent_lightgbm"]

FloatArray = npt.NDArray[np.float64]
PredictEngine = Literal["auto", "lightgbm", "compiled"]

_MODEL_FILE = "global_model.txt"
_META_FILE = "global_model.json"
_HAS_EVAL_X = "eval_X" in inspect.signature(lgb.LGBMRegressor.fit).parameters
_ITERATION_ALIASES = (
    "n_estimators",
    "num_iterations",
    "num_iteration",
    "n_iter",
    "num_tree",
    "num_trees",
    "num_round",
    "num_rounds",
    "nrounds",
    "num_boost_round",
    "max_iter",
)


_PREDICT_THREADS = max(1, os.cpu_count() or 1)
"""Prediction is embarrassingly parallel over rows; training stays on ``n_jobs``."""

_concurrent_lock = threading.Lock()
_concurrent_sections = 0


@contextlib.contextmanager
def concurrent_lightgbm() -> Iterator[None]:
    """Mark a section in which LightGBM may train and predict on several threads at once.

    LightGBM keeps its OpenMP thread count in one process-wide variable that every call
    sets from its own ``num_threads``. A call that sized per-thread buffers for one count
    while a concurrent call on another thread set a different one writes past them and
    crashes the process (a Dataset built with 1 thread beside a prediction with 2 did, in
    CI). Inside this section every prediction therefore uses the thread count its booster
    was trained with, the count all training calls share.
    """
    global _concurrent_sections
    with _concurrent_lock:
        _concurrent_sections += 1
    try:
        yield
    finally:
        with _concurrent_lock:
            _concurrent_sections -= 1


def _level_codes(values: pd.Series, levels: pd.Index) -> npt.NDArray[np.intp]:
    """Return the position of each value's string form in ``levels``; -1 if absent or missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # map the few categories, then gather: no per-row string work
        mapping = levels.get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, mapping[codes], -1)
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values):
        return levels.get_indexer(pd.Index(values))
    labels = values.astype(object)
    return levels.get_indexer(pd.Index(labels.where(labels.isna(), labels.astype(str))))


def _as_levels(series: pd.Series, levels: list[str]) -> pd.Series:
    """Return ``series`` as a categorical over string ``levels``; other values are missing."""
    index = pd.Index(levels)
    codes = _level_codes(series, index)
    return pd.Series(pd.Categorical.from_codes(codes, categories=index), index=series.index)


class GlobalModel:
    """One regressor over all entities (LightGBM or a named scikit-learn regressor).

    Args:
        settings: The ``global_model`` settings section.
        seed: Random seed passed to the learner.
        objective: The loss LightGBM minimises: ``'mse'`` or ``'mae'``.
        offset: A numeric column the learner corrects instead of predicting the target
            from scratch (``None``: plain).

    Attributes:
        feature_columns_: Features used, in order.
        categorical_columns_: The categorical ones among them.
        categories_: Levels of each categorical feature (unseen levels become missing).
        best_iteration_: Trees kept after early stopping (LightGBM), else None.
        booster_: The LightGBM booster (LightGBM only).
        estimator_: The fitted scikit-learn regressor (scikit-learn only).

    """

    def __init__(
        self,
        settings: GlobalModelSettings | None = None,
        *,
        seed: int = 42,
        objective: Objective = "mse",
        offset: str | None = None,
    ) -> None:
        self.settings = settings
        self.seed = seed
        self.objective = objective
        self.offset = offset

    def _offset_values(self, frame: pd.DataFrame, where: str) -> FloatArray:
        """Return the offset column of ``frame`` (zeros without an offset)."""
        if self.offset is None:
            return np.zeros(len(frame))
        check_columns(frame, [self.offset], where)
        values = pd.to_numeric(frame[self.offset], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        if not np.isfinite(values).all():
            raise ModelError(
                f"offset column {self.offset!r} of the {where} frame has missing or infinite "
                "values; a baseline forecast must be a number on every row."
            )
        return values

    # -- design matrix -----------------------------------------------------------------
    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        check_columns(frame, self.feature_columns_, "prediction")
        design = frame[self.feature_columns_].copy()
        for column in self.feature_columns_:
            if column in self.categories_:
                design[column] = _as_levels(design[column], self.categories_[column])
            else:
                design[column] = pd.to_numeric(design[column], errors="raise").astype(np.float64)
        if self.estimator_name_ != LIGHTGBM:
            for column in self.categorical_columns_:
                codes = design[column].cat.codes.astype(np.float64)
                design[column] = codes.where(codes >= 0, np.nan)
            design = design.fillna(self.fill_values_)
        return design

    def _lightgbm_matrix(self, frame: pd.DataFrame) -> FloatArray:
        """Return the float design matrix LightGBM predicts from, without a pandas copy.

        Categories become their codes in the training levels (missing or unseen: NaN),
        exactly what LightGBM derives from the pandas categoricals it was trained on.
        """
        check_columns(frame, self.feature_columns_, "prediction")
        matrix = np.empty((len(frame), len(self.feature_columns_)), dtype=np.float64)
        for position, column in enumerate(self.feature_columns_):
            values = frame[column]
            if column in self.categories_:
                codes = _level_codes(values, pd.Index(self.categories_[column]))
                matrix[:, position] = np.where(codes >= 0, codes, np.nan)
            elif values.dtype == np.float64:
                matrix[:, position] = values.to_numpy()
            else:
                matrix[:, position] = pd.to_numeric(values, errors="raise").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
        return matrix

    def _prepare(
        self,
        frames: Sequence[pd.DataFrame],
        features: Sequence[str] | None,
        categorical: Sequence[str] | None,
    ) -> None:
        first = frames[0]
        self.feature_columns_ = (
            list(features) if features is not None else panel_feature_columns(first)
        )
        if not self.feature_columns_:
            raise ModelError("the training frame has no feature columns besides the keys.")
        for frame in frames:
            check_columns(frame, self.feature_columns_, "training")
        self.categorical_columns_ = (
            list(categorical)
            if categorical is not None
            else panel_categorical_columns(first, self.feature_columns_)
        )
        self.categories_: dict[str, list[str]] = {}
        for column in self.categorical_columns_:
            levels: set[str] = set()
            for frame in frames:
                levels.update(str(v) for v in frame[column].dropna().unique())
            self.categories_[column] = sorted(levels)

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None = None,
        feature_columns: Sequence[str] | None = None,
        categorical_columns: Sequence[str] | None = None,
    ) -> GlobalModel:
        """Fit on ``train``, early-stopping on ``validation``, then refit on both.

        Args:
            train: Panel rows to learn from.
            validation: Later panel rows for early stopping (LightGBM); ``None`` or empty
                disables early stopping and uses ``n_estimators`` trees.
            feature_columns: Features; ``None`` means every non-key column of ``train``.
            categorical_columns: Categorical features; ``None`` means the ``category``
                columns among the features.

        Returns:
            self

        Raises:
            ConfigError: Unknown estimator name or parameter.
            ModelError: Missing columns or unusable targets.

        """
        settings = self.settings or GlobalModelSettings()
        self.estimator_name_ = settings.estimator
        if settings.estimator == LIGHTGBM:
            params = lightgbm_params(settings.params, self.seed, self.objective)
        else:
            cls = resolve_sklearn(settings.estimator)
            params = sklearn_params(cls, settings.params, self.seed)
        has_validation = validation is not None and len(validation) > 0
        frames = [train, validation] if has_validation and validation is not None else [train]
        self._prepare(frames, feature_columns, categorical_columns)
        y_train = check_target(train, "training") - self._offset_values(train, "training")
        self.fill_values_ = train[self.feature_columns_].median(numeric_only=True)
        x_train = self._design(train)
        self.best_iteration_: int | None = None
        if settings.estimator == LIGHTGBM:
            model = lgb.LGBMRegressor(**params)
            if has_validation and validation is not None:
                y_val = check_target(validation, "validation")
                y_val = y_val - self._offset_values(validation, "validation")
                stop = lgb.early_stopping(settings.early_stopping_rounds, verbose=False)
                x_val = self._design(validation)
                if _HAS_EVAL_X:
                    model.fit(x_train, y_train, eval_X=(x_val,), eval_y=(y_val,), callbacks=[stop])
                else:  # LightGBM < 4.7
                    model.fit(x_train, y_train, eval_set=[(x_val, y_val)], callbacks=[stop])
                self.best_iteration_ = int(model.best_iteration_ or model.n_estimators)
            else:
                model.fit(x_train, y_train)
                self.best_iteration_ = int(model.n_estimators)
            self.booster_ = model.booster_
            self.params_ = params
        else:
            self.estimator_ = cls(**params).fit(x_train, y_train)
            self.params_ = params
        if settings.refit_on_validation and has_validation and validation is not None:
            refitted = self.refit(concat_frames(train, validation))
            if self.estimator_name_ == LIGHTGBM:
                self.booster_ = refitted.booster_
            else:
                self.estimator_ = refitted.estimator_
            self.fill_values_ = refitted.fill_values_
        return self

    def refit(self, frame: pd.DataFrame) -> GlobalModel:
        """Return a new model trained on ``frame`` with this model's size, no early stopping."""
        self._check_fitted()
        settings = self.settings or GlobalModelSettings()
        params = dict(settings.params)
        if self.estimator_name_ == LIGHTGBM:
            # the early-stopped size replaces any number of trees given under an alias
            for alias in _ITERATION_ALIASES:
                params.pop(alias, None)
            params["n_estimators"] = self.best_iteration_
        settings = settings.model_copy(update={"params": params, "refit_on_validation": False})
        model = GlobalModel(settings, seed=self.seed, objective=self.objective, offset=self.offset)
        model.fit(frame, None, self.feature_columns_, self.categorical_columns_)
        model.best_iteration_ = self.best_iteration_
        return model

    # -- prediction --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_columns_"):
            raise NotFittedError("this GlobalModel is not fitted yet; call fit() first.")

    def predict(self, frame: pd.DataFrame, *, engine: PredictEngine = "auto") -> FloatArray:
        """Predict every row of ``frame`` (it needs the fitted feature columns).

        Args:
            frame: Rows with the fitted feature columns.
            engine: Who walks LightGBM's trees: ``'lightgbm'``, ``'compiled'`` (glocal's
                kernel, the same numbers; falls back to LightGBM where the kernel cannot
                reproduce the model) or ``'auto'`` (compiled for large batches, see
                :func:`glocal.models.forest.use_compiled`).

        """
        self._check_fitted()
        if engine not in get_args(PredictEngine):
            raise ModelError(f"engine={engine!r}; use one of {list(get_args(PredictEngine))}.")
        if self.estimator_name_ == LIGHTGBM:
            matrix = self._lightgbm_matrix(frame)
            compiled = engine == "compiled" or (engine == "auto" and use_compiled(len(frame)))
            forest = self.compiled_forest() if compiled else None
            raw: npt.ArrayLike
            if forest is not None:
                raw = forest.predict(matrix)
            else:
                raw = self.booster_.predict(matrix, num_threads=self._predict_threads())
        else:
            raw = self.estimator_.predict(self._design(frame))
        prediction = np.asarray(raw, dtype=np.float64).reshape(len(frame))
        if self.offset is not None:
            prediction = prediction + self._offset_values(frame, "prediction")
        return prediction

    def _predict_threads(self) -> int:
        """Every core, or the training thread count inside :func:`concurrent_lightgbm`."""
        if _concurrent_sections == 0:
            return _PREDICT_THREADS
        trained = self.booster_.params.get("num_threads")
        return int(trained) if isinstance(trained, int) and trained > 0 else 1

    def compiled_forest(self) -> CompiledForest | None:
        """Return the booster flattened for the compiled kernel (built once per booster).

        ``None`` for scikit-learn learners, for LightGBM models the kernel cannot
        reproduce (see :mod:`glocal.models.forest`) and when Numba is unavailable.
        """
        self._check_fitted()
        if self.estimator_name_ != LIGHTGBM or load_kernel() is None:
            return None
        cached = getattr(self, "_forest_cache", None)
        if cached is None or cached[0] is not self.booster_:
            cached = (self.booster_, CompiledForest.from_booster(self.booster_))
            self._forest_cache = cached
        return cached[1]

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory`` (LightGBM text format + JSON); return its path.

        Raises:
            ModelError: The learner is a scikit-learn regressor, which has no safe format.

        """
        self._check_fitted()
        if self.estimator_name_ != LIGHTGBM:
            raise ModelError(
                f"a {self.estimator_name_} global model cannot be saved safely yet: "
                "scikit-learn models only have pickle-based formats, which can run code when "
                "loaded. Use global_model.estimator: lightgbm to save models."
            )
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(target / _MODEL_FILE))
        meta = {
            "estimator": self.estimator_name_,
            "feature_columns": self.feature_columns_,
            "categorical_columns": self.categorical_columns_,
            "categories": {k: [str(v) for v in vs] for k, vs in self.categories_.items()},
            "best_iteration": self.best_iteration_,
            "seed": self.seed,
            "objective": self.objective,
            "offset": self.offset,
        }
        (target / _META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: str | Path) -> GlobalModel:
        """Read a model written by :meth:`save`."""
        source = Path(directory)
        try:
            meta = json.loads((source / _META_FILE).read_text(encoding="utf-8"))
            booster = lgb.Booster(model_file=str(source / _MODEL_FILE))
        except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
            raise ModelError(f"cannot load the global model from {source}: {exc}") from exc
        model = cls(
            GlobalModelSettings(estimator=meta["estimator"]),
            seed=int(meta["seed"]),
            objective=meta.get("objective", "mse"),
            offset=meta.get("offset"),
        )
        model.estimator_name_ = meta["estimator"]
        model.feature_columns_ = list(meta["feature_columns"])
        model.categorical_columns_ = list(meta["categorical_columns"])
        model.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        model.best_iteration_ = meta["best_iteration"]
        model.booster_ = booster
        return model
