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

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from glocal.config.features import SplitSettings
from glocal.config.models import (
    CandidateKind,
    GlobalModelSettings,
    LocalModelSettings,
    Objective,
    SelectionSettings,
)
from glocal.core.errors import ConfigError, ModelError, NotFittedError
from glocal.features.split import resolve_embargo
from glocal.models.candidates import CandidateSet, blend_weight
from glocal.models.folds import Fold, cutoff_spacing_days, dependence_lags, rolling_folds
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
from glocal.models.global_stage import GlobalStage
from glocal.models.local_bank import LocalModelBank
from glocal.models.selection import (
    Candidate,
    Evidence,
    guard_level,
    select_per_entity,
    shrunk_residual_variance,
)

__all__ = [
    "PREDICTION_COLUMNS",
    "HybridModel",
    "candidates_from_predictions",
    "collect_evidence",
    "decide",
]

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
_SOURCES = ("global", "local", "blend")


def _sorted_by_entity(frame: pd.DataFrame) -> pd.DataFrame:
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


def candidates_from_predictions(
    predictions: dict[CandidateKind, FloatArray],
    weight: FloatArray,
    settings: LocalModelSettings,
    global_prediction: FloatArray,
    variances: list[FloatArray] | None = None,
) -> list[Candidate]:
    """Return every candidate of the selection: each kind, and its blend if configured.

    ``variances`` (one array per returned candidate, in order) are their variance floors.
    """
    candidates: list[Candidate] = []
    for kind, prediction in predictions.items():
        candidates.append(Candidate(kind, "local", prediction))
        if settings.blend:
            blended = global_prediction + weight * (prediction - global_prediction)
            candidates.append(Candidate(kind + _BLEND, "blend", blended, weight))
    if variances is not None:
        candidates = [
            Candidate(c.name, c.decision, c.prediction, c.weight, variance)
            for c, variance in zip(candidates, variances, strict=True)
        ]
    return candidates


def _in_sample_variances(
    candidates: CandidateSet,
    train: pd.DataFrame,
    y_train: FloatArray,
    g_train: FloatArray,
    validation_ids: npt.NDArray[Any],
    settings: LocalModelSettings,
    prior_rows: float,
) -> list[FloatArray]:
    """Per candidate, each validation row's entity's shrunk in-sample residual variance."""
    if len(train) == 0:
        count = len(settings.candidates) * (2 if settings.blend else 1)
        return [np.full(len(validation_ids), np.nan) for _ in range(count)]
    ids = train[ENTITY_COLUMN].to_numpy()
    n_train = train.groupby(ENTITY_COLUMN, sort=True, observed=True).size()
    rows = np.asarray(n_train.reindex(train[ENTITY_COLUMN]), dtype=np.float64)
    in_sample = candidates_from_predictions(
        candidates.predict(train, g_train),
        blend_weight(rows, settings.blend_shrinkage_rows),
        settings,
        g_train,
    )
    variances = []
    for candidate in in_sample:
        per_entity = shrunk_residual_variance(ids, y_train, candidate.prediction, prior_rows)
        variances.append(per_entity.reindex(validation_ids).to_numpy(np.float64, na_value=np.nan))
    return variances


def collect_evidence(
    history: pd.DataFrame,
    folds: list[Fold],
    fold_global: list[tuple[FloatArray, FloatArray]],
    settings: LocalModelSettings,
    selection: SelectionSettings,
    local_features: list[str],
    objective: Objective,
    lags: int,
) -> tuple[Evidence, pd.Series]:
    """Fit the candidates per fold and collect their out-of-time validation rows.

    Args:
        history: Rows sorted by entity and cutoff, every target known.
        folds: The validation folds.
        fold_global: Per fold, the global prediction of its training rows and of its
            validation rows.
        settings: The ``local_models`` settings section.
        selection: The ``selection`` settings section.
        local_features: Numeric features of the ridge candidates.
        objective: The loss the candidates serve.
        lags: Newey-West lags.

    Returns:
        The evidence of :func:`select_per_entity` and the rows per entity of ``history``.

    """
    target = check_target(history, "history")
    cutoffs = history[TIME_COLUMN]
    # only entities with enough (non-zero) validation rows can leave the global model: only
    # theirs need the in-sample residual variances of the floor
    in_folds = np.logical_or.reduce([fold.validation_mask(cutoffs) for fold in folds])
    evidence_rows = (
        pd.DataFrame(
            {"id": history[ENTITY_COLUMN].to_numpy()[in_folds], "nonzero": target[in_folds] != 0}
        )
        .groupby("id", sort=False, observed=True)["nonzero"]
        .agg(["size", "sum"])
    )
    eligible = evidence_rows.index[
        (evidence_rows["size"] >= selection.min_validation_rows)
        & (evidence_rows["sum"] >= selection.min_nonzero_rows)
    ]
    parts: dict[str, list[Any]] = {"ids": [], "fold": [], "y": [], "g": [], "w": [], "v": []}
    kinds: dict[CandidateKind, list[FloatArray]] = {}
    n_candidates = len(settings.candidates) * (2 if settings.blend else 1)
    for index, fold in enumerate(folds):
        train_mask, validation_mask = fold.train_mask(cutoffs), fold.validation_mask(cutoffs)
        train, validation = history.loc[train_mask], history.loc[validation_mask]
        g_train, g_val = fold_global[index]
        candidates = CandidateSet(settings, local_features, objective)
        if len(train):
            candidates.fit(train, target[train_mask], g_train)
            for kind, prediction in candidates.predict(validation, g_val).items():
                kinds.setdefault(kind, []).append(prediction)
            keep = train[ENTITY_COLUMN].isin(eligible).to_numpy()
            parts["v"].append(
                _in_sample_variances(
                    candidates,
                    train.loc[keep],
                    target[train_mask][keep],
                    g_train[keep],
                    validation[ENTITY_COLUMN].to_numpy(),
                    settings,
                    selection.variance_prior_rows,
                )
            )
        else:  # the entities had no rows before this fold: no candidate there
            for kind in settings.candidates:
                kinds.setdefault(kind, []).append(np.full(len(validation), np.nan))
            parts["v"].append([np.full(len(validation), np.nan)] * n_candidates)
        n_train = train.groupby(ENTITY_COLUMN, sort=True, observed=True).size()
        rows = np.asarray(n_train.reindex(validation[ENTITY_COLUMN]).fillna(0), dtype=np.float64)
        parts["ids"].append(validation[ENTITY_COLUMN].to_numpy())
        parts["fold"].append(np.full(len(validation), index))
        parts["y"].append(target[validation_mask])
        parts["g"].append(g_val)
        parts["w"].append(blend_weight(rows, settings.blend_shrinkage_rows))
    g = np.concatenate(parts["g"])
    predictions = {kind: np.concatenate(values) for kind, values in kinds.items()}
    evidence = Evidence(
        entity_ids=np.concatenate(parts["ids"]),
        target=np.concatenate(parts["y"]),
        global_prediction=g,
        candidates=candidates_from_predictions(
            predictions,
            np.concatenate(parts["w"]),
            settings,
            g,
            [
                np.concatenate([fold_variances[i] for fold_variances in parts["v"]])
                for i in range(n_candidates)
            ],
        ),
        fold=np.concatenate(parts["fold"]),
        objective=objective,
        lags=lags,
        prior_rows=selection.variance_prior_rows,
    )
    n_rows = history.groupby(ENTITY_COLUMN, sort=True, observed=True).size()
    return evidence, n_rows.rename("n_train")


def decide(
    evidence: Evidence,
    n_train: pd.Series,
    local: LocalModelSettings,
    selection: SelectionSettings,
    level: float,
) -> pd.DataFrame:
    """Return the decision records of ``evidence`` at the test ``level``."""
    final_weight = pd.Series(
        blend_weight(n_train.to_numpy(np.float64), local.blend_shrinkage_rows),
        index=n_train.index,
    )
    return select_per_entity(
        evidence.entity_ids,
        evidence.target,
        evidence.global_prediction,
        evidence.candidates,
        n_train,
        selection,
        min_train_rows=local.min_train_rows,
        fold=evidence.fold,
        objective=evidence.objective,
        lags=evidence.lags,
        level=level,
        weight=final_weight,
    )


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
    ) -> None:
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
        history = _sorted_by_entity(history)
        target = check_target(history, "history")
        self.folds_, self.lags_ = self.layout(history)

        stage = GlobalStage(global_settings, objective=self.objective, seed=self.seed)
        stage.fit(history, self.folds_, self.feature_columns_, self.categorical_columns_)
        evidence, n_train = collect_evidence(
            history,
            self.folds_,
            list(zip(stage.fold_train_, stage.fold_validation_, strict=True)),
            local_settings,
            selection,
            self.local_feature_columns_,
            self.objective,
            self.lags_,
        )
        guard = guard_level(
            evidence, n_train, selection, min_train_rows=local_settings.min_train_rows
        )
        self.guard_level_ = guard.level
        self.decisions_ = decide(evidence, n_train, local_settings, selection, guard.level)
        candidates = CandidateSet(local_settings, self.local_feature_columns_, self.objective)
        if local_settings.refit_on_validation:
            candidates.fit(history, target, stage.history_prediction_)
        else:
            train = history.loc[self.folds_[0].train_mask(history[TIME_COLUMN])]
            candidates.fit(train, check_target(train, "history"), stage.predict(train))
        self.global_stage_ = stage
        self.candidates_ = candidates
        self.local_bank_: LocalModelBank = candidates.banks_["direct"]
        self.report_ = {
            "objective": self.objective,
            "folds": [fold.to_dict() for fold in self.folds_],
            "dependence_lags": self.lags_,
            "global_stage": stage.report_,
            "population_guard": guard.to_dict(),
        }
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
