"""The bank of per-entity ridge models, fitted for every entity in one vectorized pass.

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> panel, _ = make_synthetic_panel(200, 30, 5, heterogeneity=1.0, noise=0.1, seed=1)
    >>> bank = LocalModelBank(alphas=[0.01, 0.1, 1.0]).fit(panel)
    >>> bank.predict(panel).shape == (len(panel),)
    True
    >>> LocalModelBank.from_frame(bank.to_frame()).coef_.shape
    (200, 5)

"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import LocalModelSettings
from glocal.core.errors import ModelError, NotFittedError
from glocal.models.frames import (
    ENTITY_COLUMN,
    TARGET_COLUMN,
    check_columns,
    entity_chunks,
    entity_positions,
    numeric_matrix,
    panel_categorical_columns,
    panel_feature_columns,
)
from glocal.models.ridge_solver import (
    RidgeArrays,
    fit_grouped_ridge,
    predict_grouped_ridge,
    predict_grouped_ridges,
    share_scaling,
)

__all__ = [
    "BankFitter",
    "LocalModelBank",
    "fit_local_banks",
    "numeric_feature_columns",
    "partitions_entities",
    "predict_banks",
]

FloatArray = npt.NDArray[np.float64]

_COEF, _MEAN, _SCALE = "coef:", "mean:", "scale:"

FIT_CHUNK_ROWS = 1 << 20
"""Rows per chunk of entities when a bank is fitted or predicts (bounds the copies)."""


def numeric_feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return the numeric (non-key, non-category) feature columns of a panel frame."""
    features = panel_feature_columns(frame)
    categorical = set(panel_categorical_columns(frame, features))
    return [c for c in features if c not in categorical]


def _entity_codes(frame: pd.DataFrame) -> tuple[npt.NDArray[np.int64], pd.Index]:
    check_columns(frame, [ENTITY_COLUMN], "training")
    codes, uniques = pd.factorize(frame[ENTITY_COLUMN], sort=True)
    if (codes < 0).any():
        raise ModelError("column 'entity_id' has missing values; every row needs an entity.")
    return codes.astype(np.int64), pd.Index(uniques, name=ENTITY_COLUMN)


class BankFitter(Protocol):
    """What fits the ridge banks: :func:`fit_local_banks`, or an engine running it elsewhere.

    The engine seam of the local part. The work is independent per entity, so an engine
    may split the entities over machines (``glocal.engines.spark_bank``) as long as it
    returns what :func:`fit_local_banks` would: the same entities, in the same order,
    with the same numbers. An engine that partitions the entities itself says so with a
    true ``partitions_entities`` attribute (:func:`partitions_entities`): its callers then
    hand it every entity in one call instead of chunk by chunk.
    """

    def __call__(
        self,
        frame: pd.DataFrame,
        targets: Mapping[str, npt.ArrayLike],
        *,
        feature_columns: Sequence[str],
        alphas: Sequence[float],
        standardize: bool,
        min_train_rows: int,
        n_jobs: int,
        clip: float | None,
    ) -> dict[str, LocalModelBank]:
        """Fit one bank per named target over ``frame``'s rows (see fit_local_banks)."""
        ...


def partitions_entities(fitter: BankFitter) -> bool:
    """Whether ``fitter`` partitions the entities itself (one call for all of them is best).

    In-process fitters (:func:`fit_local_banks`) do not: their callers run them chunk by
    chunk of entities, so that the working memory stays that of one chunk.
    """
    return bool(getattr(fitter, "partitions_entities", False))


def fit_local_banks(
    frame: pd.DataFrame,
    targets: Mapping[str, npt.ArrayLike],
    *,
    feature_columns: Sequence[str] | None = None,
    alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
    standardize: bool = True,
    min_train_rows: int = 8,
    n_jobs: int = -1,
    clip: float | None = 3.0,
    in_sample_out: dict[str, FloatArray] | None = None,
) -> dict[str, LocalModelBank]:
    """Fit one bank per named target over the same features, sharing one decomposition.

    Each entity's Gram matrix is decomposed once and reused for every target and penalty,
    so e.g. a bank of the target and a bank of the global residual cost about one fit.

    Args:
        frame: Panel rows with ``entity_id`` and the feature columns.
        targets: Name to per-row target values (aligned with ``frame``).
        feature_columns: Numeric features; ``None`` means every numeric feature.
        alphas: Ridge penalties per row of the entity, chosen per entity by GCV.
        standardize: Standardize features per entity.
        min_train_rows: Entities with fewer rows get no model.
        n_jobs: Threads; -1 means every core.
        clip: Clip standardized features to ``[-clip, clip]`` and predictions to the
            entity's training target range; ``None`` disables both.
        in_sample_out: If given, filled with each bank's prediction of every row of
            ``frame`` (NaN where the row's entity got no model), computed from the fit's
            own standardized rows: :func:`predict_banks`' numbers, up to rounding,
            without a second pass over the features.

    Returns:
        Name to fitted :class:`LocalModelBank`.

    """
    features = list(feature_columns) if feature_columns is not None else None
    features = features if features is not None else numeric_feature_columns(frame)
    check_columns(frame, features, "training")
    codes, entities = _entity_codes(frame)
    columns = [np.asarray(v, dtype=np.float64) for v in targets.values()]
    if any(len(column) != len(frame) for column in columns):
        lengths = sorted({len(column) for column in columns})
        raise ModelError(f"targets have {lengths} rows, the frame has {len(frame)}.")
    parts = []
    fitted_rows = None if in_sample_out is None else np.full((len(frame), len(columns)), np.nan)
    # a chunk of entities at a time: the feature matrix is never copied whole
    for rows in entity_chunks(codes, FIT_CHUNK_ROWS):
        stacked = np.column_stack([column[rows] for column in columns])
        if not np.isfinite(stacked).all():
            raise ModelError("local model targets must be finite; found NaN or infinite values.")
        # chunks of sorted rows hold a run of codes; one chunk of everything may be unsorted
        whole = rows.stop - rows.start == len(frame)
        first = 0 if whole else int(codes[rows.start])
        last = len(entities) if whole else int(codes[rows.stop - 1]) + 1
        parts.append(
            fit_grouped_ridge(
                numeric_matrix(frame.iloc[rows], features),
                stacked,
                codes[rows] - first,
                last - first,
                alphas=alphas,
                standardize=standardize,
                min_rows=min_train_rows,
                n_jobs=n_jobs,
                clip=clip,
                in_sample_out=None if fitted_rows is None else fitted_rows[rows],
            )
        )
    fits = [RidgeArrays.concat([part[k] for part in parts]) for k in range(len(columns))]
    entities = pd.Index(entities[fits[0].fitted], name=ENTITY_COLUMN)
    banks: dict[str, LocalModelBank] = {}
    for name, arrays in zip(targets, _fitted_groups(fits), strict=True):
        bank = LocalModelBank(
            alphas=alphas,
            standardize=standardize,
            min_train_rows=min_train_rows,
            n_jobs=n_jobs,
            clip=clip,
        )
        banks[name] = bank._set_state(entities, features, arrays)
    if in_sample_out is not None and fitted_rows is not None:
        in_sample_out.update({name: fitted_rows[:, k] for k, name in enumerate(targets)})
    return banks


def _fitted_groups(fits: Sequence[RidgeArrays]) -> list[RidgeArrays]:
    """Each target's state of the groups with a model, sharing one copy of their scaling.

    The targets of one fit have the same groups, means and scales; sharing them lets
    :func:`predict_banks` standardize the rows once for every bank.
    """
    keep = fits[0].fitted
    means, scales, n_rows = fits[0].means[keep], fits[0].scales[keep], fits[0].n_rows[keep]
    fitted = np.ones(len(n_rows), dtype=bool)
    return [
        RidgeArrays(
            means=means,
            scales=scales,
            coef=arrays.coef[keep],
            intercept=arrays.intercept[keep],
            alpha=arrays.alpha[keep],
            n_rows=n_rows,
            fitted=fitted,
            target_min=arrays.target_min[keep],
            target_max=arrays.target_max[keep],
            clip=arrays.clip,
        )
        for arrays in fits
    ]


class LocalModelBank:
    """Per-entity ridge models of one target, for all entities at once.

    Each entity's numeric features are centered (and, by default, scaled) with the entity's
    own means and standard deviations; constant features get coefficient 0; a missing value
    is imputed with the entity's mean. The intercept (the entity's target mean) is not
    penalized; the penalty is ``alpha * n`` for an entity with ``n`` rows, and each entity
    picks its own ``alpha`` from ``alphas`` by generalized cross-validation.

    ``LocalModelBank.unregularized()`` gives per-entity ordinary least squares with the
    minimum-norm solution, as scikit-learn's ``LinearRegression`` (the seed recipe).

    Args:
        alphas: Ridge penalties per row of the entity.
        standardize: Standardize features per entity.
        min_train_rows: Entities with fewer training rows get no model.
        n_jobs: Threads of the fit; -1 means every core.
        clip: Clip standardized features to ``[-clip, clip]`` and predictions to the
            entity's training target range (only with ``standardize``); ``None``: no clip.

    Attributes:
        entity_ids_: Entities that have a model.
        feature_columns_: Numeric features the models use.
        coef_: Coefficients on standardized features, shape (entities, features).
        intercept_: Target mean per entity.
        means_: Feature means per entity.
        scales_: Feature scales per entity (1 where constant or not standardized).
        alpha_: Penalty chosen per entity.
        n_train_: Training rows per entity.

    """

    def __init__(
        self,
        alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
        *,
        standardize: bool = True,
        min_train_rows: int = 8,
        n_jobs: int = -1,
        clip: float | None = 3.0,
    ) -> None:
        self.alphas = alphas
        self.standardize = standardize
        self.min_train_rows = min_train_rows
        self.n_jobs = n_jobs
        self.clip = clip

    @classmethod
    def from_settings(cls, settings: LocalModelSettings) -> LocalModelBank:
        """Build an unfitted bank from the ``local_models`` settings section."""
        return cls(
            alphas=settings.alphas,
            standardize=settings.standardize,
            min_train_rows=settings.min_train_rows,
            n_jobs=settings.n_jobs,
            clip=settings.clip,
        )

    @classmethod
    def unregularized(cls, min_train_rows: int = 20, n_jobs: int = -1) -> LocalModelBank:
        """Build a bank of per-entity ordinary least squares (minimum-norm) models."""
        return cls(
            alphas=(0.0,),
            standardize=False,
            min_train_rows=min_train_rows,
            n_jobs=n_jobs,
            clip=None,
        )

    def fit(
        self,
        frame: pd.DataFrame,
        target: npt.ArrayLike | None = None,
        feature_columns: Sequence[str] | None = None,
    ) -> LocalModelBank:
        """Fit every entity's model.

        Args:
            frame: Panel rows with ``entity_id`` and the features.
            target: Per-row target; ``None`` means the frame's ``target`` column.
            feature_columns: Numeric features; ``None`` means every numeric feature.

        Returns:
            self

        """
        if any(a < 0 for a in self.alphas) or not len(self.alphas):
            raise ModelError(f"alphas must be a non-empty list of values >= 0, got {self.alphas}.")
        if target is None:
            check_columns(frame, [TARGET_COLUMN], "training")
            target = frame[TARGET_COLUMN].to_numpy(dtype=np.float64)
        fitted = fit_local_banks(
            frame,
            {"target": target},
            feature_columns=feature_columns,
            alphas=self.alphas,
            standardize=self.standardize,
            min_train_rows=self.min_train_rows,
            n_jobs=self.n_jobs,
            clip=self.clip,
        )["target"]
        return self._set_state(fitted.entity_ids_, fitted.feature_columns_, fitted._arrays)

    def _set_state(
        self, entities: pd.Index, features: Sequence[str], arrays: RidgeArrays
    ) -> LocalModelBank:
        keep = arrays.fitted
        self._arrays = arrays if keep.all() else _fitted_groups([arrays])[0]
        named = entities.name == ENTITY_COLUMN and keep.all()
        self.entity_ids_ = entities if named else pd.Index(entities[keep], name=ENTITY_COLUMN)
        self.feature_columns_ = list(features)
        self.coef_ = self._arrays.coef
        self.intercept_ = self._arrays.intercept
        self.means_ = self._arrays.means
        self.scales_ = self._arrays.scales
        self.alpha_ = self._arrays.alpha
        self.n_train_ = self._arrays.n_rows
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "_arrays"):
            raise NotFittedError("this LocalModelBank is not fitted yet; call fit() first.")

    def entity_codes(self, entity_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Return each id's position in ``entity_ids_``, or -1 where it has no model."""
        self._check_fitted()
        return entity_positions(entity_ids, self.entity_ids_)

    def predict(self, frame: pd.DataFrame) -> FloatArray:
        """Predict every row with its entity's model; NaN where the entity has none."""
        return predict_banks(frame, [self])[0]

    def predict_codes(self, features: FloatArray, codes: npt.NDArray[np.int64]) -> FloatArray:
        """Predict rows given their feature matrix and entity codes; NaN where code is -1.

        Args:
            features: Rows by :attr:`feature_columns_` (as :func:`numeric_matrix` builds).
            codes: Each row's position in :attr:`entity_ids_` (see :meth:`entity_codes`).

        """
        self._check_fitted()
        return predict_grouped_ridge(features, codes, self._arrays, n_jobs=self.n_jobs)

    def to_frame(self) -> pd.DataFrame:
        """Export the bank as one row per entity (Parquet-ready, no Python objects).

        Columns: ``entity_id``, ``n_train``, ``alpha``, ``intercept``, ``target_min``,
        ``target_max``, ``clip`` (the same on every row, inf when off), then
        ``coef:<feature>``, ``mean:<feature>`` and ``scale:<feature>`` per feature.
        """
        self._check_fitted()
        columns: dict[str, npt.ArrayLike] = {
            ENTITY_COLUMN: self.entity_ids_.to_numpy(),
            "n_train": self.n_train_,
            "alpha": self.alpha_,
            "intercept": self.intercept_,
            "target_min": self._arrays.target_min,
            "target_max": self._arrays.target_max,
            "clip": np.full(len(self.entity_ids_), self._arrays.clip),
        }
        for prefix, values in ((_COEF, self.coef_), (_MEAN, self.means_), (_SCALE, self.scales_)):
            for j, feature in enumerate(self.feature_columns_):
                columns[prefix + feature] = values[:, j]
        return pd.DataFrame(columns)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> LocalModelBank:
        """Rebuild a fitted bank from :meth:`to_frame` output."""
        scalars = ["n_train", "alpha", "intercept", "target_min", "target_max", "clip"]
        check_columns(frame, [ENTITY_COLUMN, *scalars], "bank")
        features = [str(c)[len(_COEF) :] for c in frame.columns if str(c).startswith(_COEF)]
        check_columns(frame, [p + f for p in (_MEAN, _SCALE) for f in features], "bank")

        def block(prefix: str) -> FloatArray:
            names = [prefix + f for f in features]
            return frame[names].to_numpy(dtype=np.float64).reshape(len(frame), len(features))

        arrays = RidgeArrays(
            means=block(_MEAN),
            scales=block(_SCALE),
            coef=block(_COEF),
            intercept=frame["intercept"].to_numpy(dtype=np.float64),
            alpha=frame["alpha"].to_numpy(dtype=np.float64),
            n_rows=frame["n_train"].to_numpy(dtype=np.int64),
            fitted=np.ones(len(frame), dtype=bool),
            target_min=frame["target_min"].to_numpy(dtype=np.float64),
            target_max=frame["target_max"].to_numpy(dtype=np.float64),
            clip=float(frame["clip"].iloc[0]) if len(frame) else np.inf,
        )
        return cls()._set_state(pd.Index(frame[ENTITY_COLUMN]), features, arrays)


def _one_fit(banks: Sequence[LocalModelBank]) -> bool:
    """Whether the banks come from one :func:`fit_local_banks` call (shared scaling)."""
    return share_scaling([bank._arrays for bank in banks]) and all(
        bank.entity_ids_ is banks[0].entity_ids_
        and bank.feature_columns_ == banks[0].feature_columns_
        for bank in banks[1:]
    )


def predict_banks(frame: pd.DataFrame, banks: Sequence[LocalModelBank]) -> list[FloatArray]:
    """Predict every row with each bank; NaN where an entity has no model.

    Banks fitted together (the targets of one :func:`fit_local_banks` call) share their
    entities and feature scaling: the rows are looked up and standardized once for all
    of them. Other banks are predicted one by one. The numbers are those of
    :meth:`LocalModelBank.predict`.
    """
    for bank in banks:
        bank._check_fitted()
    if len(banks) > 1 and not _one_fit(banks):
        return [prediction for bank in banks for prediction in predict_banks(frame, [bank])]
    features = banks[0].feature_columns_
    check_columns(frame, [ENTITY_COLUMN, *features], "prediction")
    codes = banks[0].entity_codes(frame[ENTITY_COLUMN].to_numpy())
    states = [bank._arrays for bank in banks]
    predictions = [np.empty(len(frame)) for _ in banks]
    for start in range(0, len(frame), FIT_CHUNK_ROWS):  # never a copy of every row
        rows = slice(start, start + FIT_CHUNK_ROWS)
        matrix = numeric_matrix(frame.iloc[rows], features)
        parts = predict_grouped_ridges(matrix, codes[rows], states, n_jobs=banks[0].n_jobs)
        for prediction, part in zip(predictions, parts, strict=True):
            prediction[rows] = part
    return predictions
