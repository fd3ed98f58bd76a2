"""The hybrid model: a global stage plus guarded per-entity local candidates.

``fit`` takes the whole history (every row whose target is known) and runs five steps:

1. **Folds.** ``split.folds`` validation folds of ``split.validation_days`` are laid back
   from the end of the history, each with its own training cut and embargo
   (:mod:`glocal.models.folds`).
2. **Global stage.** Every global component (the learner on the target, the learner
   correcting each baseline forecast, the baselines themselves) is fitted per fold; the
   stage averages those not significantly worse than the best on the folds
   (:mod:`glocal.models.global_stage`).
3. **Local candidates.** For every fold, every candidate is fitted for all entities at
   once on the fold's training rows (correcting the stage's in-sample prediction) and
   predicts the fold's validation rows.
4. **Choice.** Each entity is decided on its pooled validation rows
   (:func:`select_per_entity`), at the level the population guard found to help on folds
   the choice was not made on (:func:`guard_level`).
5. **Refit.** The stage's members and the candidates are refitted on the whole history;
   the decisions are kept.

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> from glocal.config.models import GlobalModelSettings
    >>> panel, _ = make_synthetic_panel(80, 30, 3, heterogeneity=2.0, noise=0.3, seed=0)
    >>> history = panel[panel.cutoff < "2020-07-01"]
    >>> test = panel[panel.cutoff >= "2020-07-01"]
    >>> model = HybridModel(global_model=GlobalModelSettings(params={"n_estimators": 100}))
    >>> model = model.fit(history)
    >>> out = model.predict(test)
    >>> list(out.columns)
    ['entity_id', 'prediction', 'source', 'global_prediction', 'local_prediction']
    >>> set(model.decisions_["decision"]) <= {"global", "local", "blend"}
    True

"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from glocal.config.features import SplitSettings
from glocal.config.models import (
    GlobalModelSettings,
    LocalModelSettings,
    Objective,
    SelectionSettings,
)
from glocal.core.errors import ConfigError, ModelError, NotFittedError
from glocal.features.split import resolve_embargo
from glocal.models.candidates import CandidateSet
from glocal.models.evidence import collect_evidence, decide, decoded_decisions
from glocal.models.folds import Fold, cutoff_spacing_days, dependence_lags, rolling_folds
from glocal.models.frames import (
    ENTITY_COLUMN,
    TIME_COLUMN,
    check_columns,
    check_target,
    coded_entities,
    concat_frames,
    numeric_matrix,
    panel_categorical_columns,
    panel_feature_columns,
)
from glocal.models.global_stage import GlobalStage
from glocal.models.guard import guard_level
from glocal.models.local_bank import BankFitter, LocalModelBank, fit_local_banks
from glocal.models.selection import fold_tests

__all__ = ["PREDICTION_COLUMNS", "HybridModel", "sorted_by_entity"]

FloatArray = npt.NDArray[np.float64]

PREDICTION_COLUMNS = (
    ENTITY_COLUMN,
    "prediction",
    "source",
    "global_prediction",
    "local_prediction",
)
"""Columns of :meth:`HybridModel.predict` output, in order."""

_SOURCES = ("global", "local", "blend")


def sorted_by_entity(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` sorted by entity (and cutoff), as the model's fits expect it."""
    keys = [ENTITY_COLUMN, TIME_COLUMN] if TIME_COLUMN in frame else [ENTITY_COLUMN]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _check_history(history: pd.DataFrame) -> FloatArray:
    if len(history) == 0:
        raise ModelError("the history frame is empty; nothing to fit.")
    check_columns(history, [ENTITY_COLUMN, TIME_COLUMN], "history")
    target = check_target(history, "history")
    if np.ptp(target) == 0:
        raise ModelError(
            f"column 'target' is constant ({target[0]!r} on every row); there is nothing to "
            "learn. Check the target definition."
        )
    return target


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
    """A global stage plus per-entity local models, chosen per entity on validation folds.

    Args:
        global_model: The ``global_model`` settings section.
        local_models: The ``local_models`` settings section.
        selection: The ``selection`` settings section.
        seed: Seed of every random step.
        split: The ``split`` settings section: validation folds and embargo.
        horizon_days: Days the target sums over; the default embargo and the Newey-West
            lags follow from it.
        objective: ``"mse"`` or ``"mae"``: the loss every stage minimises.
        bank_fitter: What fits the ridge banks, in every fold and at the end: the engine
            seam (:class:`~glocal.models.local_bank.BankFitter`); in-process by default.

    Attributes:
        global_stage_: The refitted :class:`GlobalStage`.
        local_bank_: The bank of per-entity ridge models of the target (``direct``).
        candidates_: Every fitted candidate kind (:class:`CandidateSet`).
        decisions_: One decision record per entity of the history.
        feature_columns_: Features of the global learners (before any entity id).
        categorical_columns_: Categorical ones among them.
        local_feature_columns_: Numeric features of the ridge candidates.
        folds_: The validation folds the decisions were made on.
        lags_: Newey-West lags of the paired tests.
        guard_level_: Test level the population guard kept (0: every entity global).
        report_: Folds, global stage and guard outcome, for ``metrics.json``.

    """

    def __init__(
        self,
        global_model: GlobalModelSettings | None = None,
        local_models: LocalModelSettings | None = None,
        selection: SelectionSettings | None = None,
        seed: int = 42,
        *,
        split: SplitSettings | None = None,
        horizon_days: int = 30,
        objective: Objective = "mse",
        bank_fitter: BankFitter = fit_local_banks,
    ) -> None:
        self.bank_fitter = bank_fitter
        self.global_model = global_model
        self.local_models = local_models
        self.selection = selection
        self.seed = seed
        self.split = split
        self.horizon_days = horizon_days
        self.objective = objective

    @property
    def global_uses_entity_(self) -> bool:
        """Whether the global learners got the entity id as a feature."""
        return bool(self.global_stage_.uses_entity_)

    def _local_features(self, settings: LocalModelSettings) -> list[str]:
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

    def layout(self, history: pd.DataFrame) -> tuple[list[Fold], int]:
        """Return the validation folds and Newey-West lags for ``history``."""
        split = self.split or SplitSettings()
        selection = self.selection or SelectionSettings()
        embargo = resolve_embargo(split, self.horizon_days)
        folds = rolling_folds(history[TIME_COLUMN], split.folds, split.validation_days, embargo)
        lags = selection.dependence_lags
        if lags is None:
            lags = dependence_lags(self.horizon_days, cutoff_spacing_days(history[TIME_COLUMN]))
        return folds, lags

    def fit(
        self,
        history: pd.DataFrame,
        validation: pd.DataFrame | None = None,
        feature_columns: list[str] | None = None,
    ) -> HybridModel:
        """Fit the global stage and the candidates per fold, decide per entity, refit.

        Args:
            history: Every panel row with a known target (train and validation alike).
            validation: Optional later rows, appended to ``history`` (kept for callers
                that split the history themselves; the folds are laid over both).
            feature_columns: Features; ``None`` means every non-key column of ``history``.

        Returns:
            self

        Raises:
            ModelError: Too little history for the folds, unusable targets, missing columns.
            ConfigError: Unknown estimator, estimator parameter or local feature.

        """
        if validation is not None and len(validation):
            history = concat_frames(history, validation)
        global_settings = self.global_model or GlobalModelSettings()
        local_settings = self.local_models or LocalModelSettings()
        selection = self.selection or SelectionSettings()
        _check_history(history)
        features = (
            feature_columns if feature_columns is not None else panel_feature_columns(history)
        )
        check_columns(history, features, "history")
        self.feature_columns_ = list(features)
        self.categorical_columns_ = panel_categorical_columns(history, features)
        self.local_feature_columns_ = self._local_features(local_settings)
        history = sorted_by_entity(history)
        target = check_target(history, "history")
        self.folds_, self.lags_ = self.layout(history)

        stage = GlobalStage(global_settings, objective=self.objective, seed=self.seed)
        stage.fit(history, self.folds_, self.feature_columns_, self.categorical_columns_)
        # the per-entity work runs on integer codes and only the columns it reads
        coded, ids = coded_entities(history, self.local_feature_columns_)
        evidence, n_train = collect_evidence(
            coded,
            self.folds_,
            list(zip(stage.fold_train_, stage.fold_validation_, strict=True)),
            local_settings,
            selection,
            self.local_feature_columns_,
            self.objective,
            self.lags_,
            self.bank_fitter,
        )
        tests = fold_tests(evidence, n_train.index)  # the guard's and the choice's sums
        guard = guard_level(
            evidence, n_train, selection, min_train_rows=local_settings.min_train_rows, tests=tests
        )
        self.guard_level_ = guard.level
        decisions = decide(evidence, n_train, local_settings, selection, guard.level, tests)
        del evidence, tests  # every fold's rows of every candidate: not needed by the final fit
        self.decisions_ = decoded_decisions(decisions, ids)
        candidates = CandidateSet(
            local_settings, self.local_feature_columns_, self.objective, self.bank_fitter
        )
        if local_settings.refit_on_validation:
            candidates.fit(coded, target, stage.history_prediction_)
        else:
            in_train = self.folds_[0].train_mask(history[TIME_COLUMN])
            train = history.loc[in_train]
            candidates.fit(
                coded.loc[in_train], check_target(train, "history"), stage.predict(train)
            )
        self.global_stage_ = stage
        self.candidates_ = candidates.relabel(ids)
        self.local_bank_: LocalModelBank = candidates.banks_["direct"]
        self.report_ = {
            "objective": self.objective,
            "folds": [fold.to_dict() for fold in self.folds_],
            "dependence_lags": self.lags_,
            "global_stage": stage.report_,
            "population_guard": guard.to_dict(),
        }
        return self

    def demote(self, entity_ids: Collection[str]) -> int:
        """Serve these entities by the global stage (reason ``DEMOTED``); return how many.

        Their local candidate is kept and still predicted as ``local_prediction`` (a shadow
        for monitoring); ids the model has no decision for are ignored.
        """
        self._check_fitted()
        ids = self.decisions_[ENTITY_COLUMN].astype(str)
        hit = ids.isin({str(e) for e in entity_ids}).to_numpy()
        if hit.any():
            decisions = self.decisions_.copy()
            decisions.loc[hit, "decision"] = "global"
            decisions.loc[hit, "weight"] = 0.0
            decisions.loc[hit, "reason"] = "DEMOTED"
            self.decisions_ = decisions
        return int(hit.sum())

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
                local[rows] = g[rows] + correction.apply(per_entity[entity], g[rows])
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
        g = self.global_stage_.predict(frame)
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
