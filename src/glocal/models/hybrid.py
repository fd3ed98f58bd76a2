"""The hybrid model: a global model plus guarded per-entity local candidates.

``fit`` runs four steps:

1. The global model is trained on ``train`` with early stopping on ``validation``; with
   ``global_model.entity_feature`` (LightGBM) it also gets the entity id as a categorical
   feature, so it learns regularized per-entity effects from every row.
2. Every local candidate (see :mod:`glocal.models.candidates`) is fitted on ``train`` for
   all entities at once, using the global model's training predictions where it corrects
   them.
3. Each entity is decided on ``validation`` only (:func:`select_per_entity`): it leaves the
   global model only if its best candidate is significantly better there.
4. The global model and the candidates are refitted on train + validation (the global
   model with the early-stopped number of trees), so test rows are scored by models that
   saw the most recent data; the decisions and blend weights of step 3 are kept.

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> from glocal.config.models import GlobalModelSettings
    >>> panel, _ = make_synthetic_panel(80, 30, 3, heterogeneity=2.0, noise=0.3, seed=0)
    >>> train = panel[panel.cutoff < "2020-05-01"]
    >>> validation = panel[(panel.cutoff >= "2020-05-01") & (panel.cutoff < "2020-07-01")]
    >>> test = panel[panel.cutoff >= "2020-07-01"]
    >>> model = HybridModel(global_model=GlobalModelSettings(params={"n_estimators": 100}))
    >>> model = model.fit(train, validation)
    >>> out = model.predict(test)
    >>> list(out.columns)
    ['entity_id', 'prediction', 'source', 'global_prediction', 'local_prediction']
    >>> set(model.decisions_["decision"]) <= {"global", "local", "blend"}
    True

"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from glocal.config.models import (
    CandidateKind,
    GlobalModelSettings,
    LocalModelSettings,
    SelectionSettings,
)
from glocal.core.errors import ConfigError, ModelError, NotFittedError
from glocal.models.candidates import CandidateSet, blend_weight
from glocal.models.estimators import LIGHTGBM
from glocal.models.frames import (
    ENTITY_COLUMN,
    TIME_COLUMN,
    check_columns,
    check_target,
    concat_frames,
    numeric_matrix,
    panel_categorical_columns,
    panel_feature_columns,
)
from glocal.models.global_model import GlobalModel
from glocal.models.local_bank import LocalModelBank
from glocal.models.selection import Candidate, select_per_entity

__all__ = ["PREDICTION_COLUMNS", "HybridModel"]

FloatArray = npt.NDArray[np.float64]

PREDICTION_COLUMNS = (
    ENTITY_COLUMN,
    "prediction",
    "source",
    "global_prediction",
    "local_prediction",
)
"""Columns of :meth:`HybridModel.predict` output, in order."""

_BLEND = "+blend"


def _sorted_by_entity(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [ENTITY_COLUMN, TIME_COLUMN] if TIME_COLUMN in frame else [ENTITY_COLUMN]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _check_inputs(train: pd.DataFrame, validation: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    if len(train) == 0:
        raise ModelError("the training frame is empty; nothing to fit.")
    if len(validation) == 0:
        raise ModelError(
            "the validation frame is empty: the hybrid model decides per entity on a "
            "validation block. Make split.validation_days cover at least one cutoff."
        )
    check_columns(train, [ENTITY_COLUMN], "training")
    check_columns(validation, [ENTITY_COLUMN], "validation")
    y_train = check_target(train, "training")
    y_val = check_target(validation, "validation")
    if np.ptp(np.concatenate([y_train, y_val])) == 0:
        raise ModelError(
            f"column 'target' is constant ({y_train[0]!r} on every training and validation "
            "row); there is nothing to learn. Check the target definition."
        )
    return y_train, y_val


_SOURCES = ("global", "local", "blend")


def _is_arrow_string(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def _positions(known_ids: pd.Series, row_ids: pd.Series) -> npt.NDArray[np.intp]:
    """Return each row's position in ``known_ids`` (-1 where unknown).

    Arrow-backed string ids are matched by Arrow's hash kernel, about 4x faster than a
    pandas index lookup at a million rows; anything else goes through pandas.
    """
    if _is_arrow_string(row_ids) and _is_arrow_string(known_ids):
        rows = pa.array(row_ids)
        known = pa.array(known_ids).cast(rows.type)
        found = pc.index_in(rows, value_set=known).fill_null(-1)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.intp)
    return np.asarray(pd.Index(known_ids).get_indexer(pd.Index(row_ids)), dtype=np.intp)


def _source_labels(codes: npt.NDArray[np.int32]) -> pd.api.extensions.ExtensionArray:
    """Return the ``source`` column ('global', 'local', 'blend' by code) as ``str``."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(_SOURCES)))
    labels: pd.api.extensions.ExtensionArray = pd.array(
        dictionary.cast(pa.large_string()), dtype="str"
    )
    return labels


class HybridModel:
    """A global model plus per-entity local models, chosen per entity on validation data.

    Args:
        global_model: The ``global_model`` settings section.
        local_models: The ``local_models`` settings section.
        selection: The ``selection`` settings section.
        seed: Seed of every random step.

    Attributes:
        global_model_: The refitted :class:`GlobalModel`.
        local_bank_: The bank of per-entity ridge models of the target (``direct``).
        candidates_: Every fitted candidate kind (:class:`CandidateSet`).
        decisions_: One decision record per entity seen in ``train``.
        feature_columns_: Features of the global model.
        categorical_columns_: Categorical ones among them.
        local_feature_columns_: Numeric features of the ridge candidates.
        global_uses_entity_: Whether the global model got the entity id as a feature.

    """

    def __init__(
        self,
        global_model: GlobalModelSettings | None = None,
        local_models: LocalModelSettings | None = None,
        selection: SelectionSettings | None = None,
        seed: int = 42,
    ) -> None:
        self.global_model = global_model
        self.local_models = local_models
        self.selection = selection
        self.seed = seed

    def _local_features(self, settings: LocalModelSettings, frame: pd.DataFrame) -> list[str]:
        numeric = [c for c in self.feature_columns_ if c not in self.categorical_columns_]
        if settings.features is None:
            return numeric
        unknown = [c for c in settings.features if c not in numeric]
        if unknown:
            raise ConfigError(
                f"local_models.features names {unknown}, which are not numeric feature "
                f"columns of the panel; numeric features: {numeric}."
            )
        return list(settings.features)

    def _fit_global(
        self,
        settings: GlobalModelSettings,
        train: pd.DataFrame,
        validation: pd.DataFrame,
        y_val: FloatArray,
    ) -> GlobalModel:
        """Fit the staged global model (no refit yet), with or without the entity id."""
        staged = settings.model_copy(update={"refit_on_validation": False})
        variants = [False, True] if settings.entity_feature == "auto" else [settings.entity_feature]
        if settings.estimator != LIGHTGBM:
            variants = [False]
        best: tuple[float, GlobalModel] | None = None
        for with_entity in variants:
            features, categorical = self.feature_columns_, self.categorical_columns_
            if with_entity:
                features = [*features, ENTITY_COLUMN]
                categorical = [*categorical, ENTITY_COLUMN]
            model = GlobalModel(staged, seed=self.seed).fit(
                train, validation, features, categorical
            )
            # one pooled choice over every validation row: a negligible selection effect
            score = float(np.mean((y_val - model.predict(validation)) ** 2))
            if best is None or score < best[0]:
                best = (score, model)
                self.global_uses_entity_ = with_entity
        assert best is not None
        return best[1]

    def _candidates(
        self,
        predictions: dict[CandidateKind, FloatArray],
        n_train_rows: FloatArray,
        settings: LocalModelSettings,
        global_prediction: FloatArray,
    ) -> list[Candidate]:
        weight = blend_weight(n_train_rows, settings.blend_shrinkage_rows)
        candidates: list[Candidate] = []
        for kind, prediction in predictions.items():
            candidates.append(Candidate(kind, "local", prediction))
            if settings.blend:
                blended = global_prediction + weight * (prediction - global_prediction)
                candidates.append(Candidate(kind + _BLEND, "blend", blended, weight))
        return candidates

    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame,
        feature_columns: list[str] | None = None,
    ) -> HybridModel:
        """Fit the global model and the candidates, decide per entity, then refit.

        Args:
            train: Training panel rows.
            validation: Later panel rows, used for early stopping and the decisions only.
            feature_columns: Features; ``None`` means every non-key column of ``train``.

        Returns:
            self

        Raises:
            ModelError: Empty validation block, unusable targets, missing columns.
            ConfigError: Unknown estimator, estimator parameter or local feature.

        """
        global_settings = self.global_model or GlobalModelSettings()
        local_settings = self.local_models or LocalModelSettings()
        selection = self.selection or SelectionSettings()
        _check_inputs(train, validation)
        features = feature_columns if feature_columns is not None else panel_feature_columns(train)
        check_columns(train, features, "training")
        check_columns(validation, features, "validation")
        self.feature_columns_ = list(features)
        self.categorical_columns_ = panel_categorical_columns(train, features)
        self.local_feature_columns_ = self._local_features(local_settings, train)
        train, validation = _sorted_by_entity(train), _sorted_by_entity(validation)
        y_train, y_val = check_target(train, "training"), check_target(validation, "validation")

        global_model = self._fit_global(global_settings, train, validation, y_val)
        g_train, g_val = global_model.predict(train), global_model.predict(validation)
        candidates = CandidateSet(local_settings, self.local_feature_columns_)
        candidates.fit(train, y_train, g_train)

        n_train = train.groupby(ENTITY_COLUMN, sort=True, observed=True).size().rename("n_train")
        n_val_rows = np.asarray(
            n_train.reindex(validation[ENTITY_COLUMN]).fillna(0), dtype=np.float64
        )
        predictions = candidates.predict(validation, g_val)
        self.decisions_ = select_per_entity(
            validation[ENTITY_COLUMN],
            y_val,
            g_val,
            self._candidates(predictions, n_val_rows, local_settings, g_val),
            n_train,
            selection,
            min_train_rows=local_settings.min_train_rows,
        )

        if global_settings.refit_on_validation:
            global_model = global_model.refit(concat_frames(train, validation))
        if local_settings.refit_on_validation:
            full = concat_frames(train, validation)
            candidates = CandidateSet(local_settings, self.local_feature_columns_)
            candidates.fit(full, check_target(full, "training"), global_model.predict(full))
        self.global_model_ = global_model
        self.candidates_ = candidates
        self.local_bank_: LocalModelBank = candidates.banks_["direct"]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "decisions_"):
            raise NotFittedError("this HybridModel is not fitted yet; call fit() first.")

    def _local_predictions(
        self, frame: pd.DataFrame, position: npt.NDArray[np.intp], g: FloatArray
    ) -> FloatArray:
        """Each row's best candidate (NaN where none), computed only on the rows using it.

        Lookups are done once per entity of ``decisions_`` and gathered by ``position``
        (each row's entity in ``decisions_``), so no row is hashed twice.
        """
        decisions = self.decisions_
        local = np.full(len(frame), np.nan)
        names, unique_names = pd.factorize(decisions["candidate"])
        kind_names = sorted({str(n).split("+")[0] for n in unique_names})
        kind_index = {kind: code for code, kind in enumerate(kind_names)}
        # integer kind per candidate name; the trailing -1 is picked by code -1 (no candidate)
        kinds = np.array([kind_index[str(n).split("+")[0]] for n in unique_names] + [-1])
        kind_of_entity = kinds[names]
        entity_ids = pd.Index(decisions[ENTITY_COLUMN])
        row_kind = np.where(position >= 0, kind_of_entity[position], -1)
        for kind_code, kind in enumerate(kind_names):
            rows = np.flatnonzero(row_kind == kind_code)
            if len(rows) == 0:
                continue
            entity = position[rows]
            if kind in self.candidates_.banks_ and kind in ("direct", "residual"):
                bank = self.candidates_.banks_[kind]
                matrix = numeric_matrix(frame.iloc[rows], bank.feature_columns_)
                codes = bank.entity_codes(entity_ids)[entity]
                value = bank.predict_codes(matrix, codes)
                local[rows] = value if kind == "direct" else g[rows] + value
            elif kind in self.candidates_.corrections_:
                correction = self.candidates_.corrections_[kind]
                codes = correction.entity_ids_.get_indexer(entity_ids)
                per_entity = np.where(codes >= 0, correction.value_[codes], np.nan)
                value = per_entity[entity]
                local[rows] = g[rows] + (value if kind == "level" else value * g[rows])
        return local

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predict every row with its entity's chosen model.

        Vectorized: the entity of every row is looked up once, and each candidate kind is
        computed only on the rows of the entities whose best candidate it is.

        Returns:
            A frame with the index of ``frame`` and columns :data:`PREDICTION_COLUMNS`:
            ``source`` is 'global', 'local' or 'blend'; ``local_prediction`` is the entity's
            best local candidate (NaN where it has none), whether or not it was chosen.

        """
        self._check_fitted()
        check_columns(frame, [ENTITY_COLUMN, *self.feature_columns_], "prediction")
        g = self.global_model_.predict(frame)
        decisions = self.decisions_
        position = _positions(decisions[ENTITY_COLUMN], frame[ENTITY_COLUMN])
        known = position >= 0
        local = self._local_predictions(frame, position, g)

        decision_code = pd.Index(_SOURCES).get_indexer(pd.Index(decisions["decision"]))
        if (decision_code < 0).any():
            raise ModelError(f"decisions_ holds decisions other than {list(_SOURCES)}.")
        source_code = np.zeros(len(frame), dtype=np.int32)
        source_code[known] = decision_code[position[known]]
        weight = np.zeros(len(frame))
        weight[known] = decisions["weight"].to_numpy(dtype=np.float64)[position[known]]
        source_code[~np.isfinite(local)] = 0  # e.g. the entity has no model after the refit
        prediction = np.where(source_code == 1, local, g)
        blend = source_code == 2
        prediction[blend] = g[blend] + weight[blend] * (local[blend] - g[blend])
        entity = frame[ENTITY_COLUMN]
        return pd.DataFrame(
            {
                # a string column is passed as is: the same dtype, without two conversions
                ENTITY_COLUMN: entity.array
                if isinstance(entity.dtype, pd.StringDtype)
                else entity.to_numpy(),
                "prediction": prediction,
                "source": _source_labels(source_code),
                "global_prediction": g,
                "local_prediction": local,
            },
            index=frame.index,
        )
