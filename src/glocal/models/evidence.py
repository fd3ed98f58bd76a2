"""The evidence the per-entity choice is made on: every candidate, per fold, out of time.

For every validation fold, every candidate kind is fitted for all entities at once on the
fold's training rows (residual-type candidates correct the global stage's in-sample
prediction) and predicts the fold's validation rows, which the global stage predicted out
of time too. The rows of all folds are pooled into one :class:`Evidence`, together with
each candidate's variance floor: the variance of its residuals over the entity's training
rows (:func:`shrunk_residual_variance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import CandidateKind, LocalModelSettings, Objective, SelectionSettings
from glocal.features.split import Fold
from glocal.models.candidates import CandidateSet, blend_weight
from glocal.models.frames import ENTITY_COLUMN, TIME_COLUMN, check_target
from glocal.models.local_bank import BankFitter, fit_local_banks
from glocal.models.selection import (
    Candidate,
    Evidence,
    select_per_entity,
    shrunk_residual_variance,
)

__all__ = ["candidates_from_predictions", "collect_evidence", "decide", "decoded_decisions"]

FloatArray = npt.NDArray[np.float64]

_BLEND = "+blend"


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


def _eligible_entities(
    history: pd.DataFrame, target: FloatArray, folds: list[Fold], selection: SelectionSettings
) -> pd.Index:
    """Entities with enough (non-zero) validation rows to be allowed to leave global.

    Only theirs need the in-sample residual variances of the floor.
    """
    cutoffs = history[TIME_COLUMN]
    in_folds = np.logical_or.reduce([fold.validation_mask(cutoffs) for fold in folds])
    rows = (
        pd.DataFrame(
            {"id": history[ENTITY_COLUMN].to_numpy()[in_folds], "nonzero": target[in_folds] != 0}
        )
        .groupby("id", sort=False, observed=True)["nonzero"]
        .agg(["size", "sum"])
    )
    return rows.index[
        (rows["size"] >= selection.min_validation_rows)
        & (rows["sum"] >= selection.min_nonzero_rows)
    ]


@dataclass(frozen=True)
class _FoldEvidence:
    """One fold's validation rows with every candidate's out-of-time prediction."""

    fold: int
    entity_ids: npt.NDArray[Any]
    target: FloatArray
    global_prediction: FloatArray
    predictions: dict[CandidateKind, FloatArray]
    weight: FloatArray
    variances: list[FloatArray]


def _fold_evidence(
    history: pd.DataFrame,
    target: FloatArray,
    fold: Fold,
    fold_global: tuple[FloatArray, FloatArray],
    eligible: pd.Index,
    settings: LocalModelSettings,
    selection: SelectionSettings,
    local_features: list[str],
    objective: Objective,
    fitter: BankFitter,
) -> _FoldEvidence:
    """Fit every candidate on the fold's training rows; predict its validation rows."""
    cutoffs = history[TIME_COLUMN]
    train_mask, validation_mask = fold.train_mask(cutoffs), fold.validation_mask(cutoffs)
    train, validation = history.loc[train_mask], history.loc[validation_mask]
    g_train, g_val = fold_global
    validation_ids = validation[ENTITY_COLUMN].to_numpy()
    n_candidates = len(settings.candidates) * (2 if settings.blend else 1)
    if len(train):
        candidates = CandidateSet(settings, local_features, objective, fitter)
        candidates.fit(train, target[train_mask], g_train)
        predictions = candidates.predict(validation, g_val)
        keep = train[ENTITY_COLUMN].isin(eligible).to_numpy()
        variances = _in_sample_variances(
            candidates,
            train.loc[keep],
            target[train_mask][keep],
            g_train[keep],
            validation_ids,
            settings,
            selection.variance_prior_rows,
        )
    else:  # the entities had no rows before this fold: no candidate there
        predictions = {kind: np.full(len(validation), np.nan) for kind in settings.candidates}
        variances = [np.full(len(validation), np.nan) for _ in range(n_candidates)]
    n_train = train.groupby(ENTITY_COLUMN, sort=True, observed=True).size()
    rows = np.asarray(n_train.reindex(validation[ENTITY_COLUMN]).fillna(0), dtype=np.float64)
    return _FoldEvidence(
        fold=fold.index,
        entity_ids=validation_ids,
        target=target[validation_mask],
        global_prediction=g_val,
        predictions=predictions,
        weight=blend_weight(rows, settings.blend_shrinkage_rows),
        variances=variances,
    )


def collect_evidence(
    history: pd.DataFrame,
    folds: list[Fold],
    fold_global: list[tuple[FloatArray, FloatArray]],
    settings: LocalModelSettings,
    selection: SelectionSettings,
    local_features: list[str],
    objective: Objective,
    lags: int,
    fitter: BankFitter = fit_local_banks,
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
        fitter: What fits the ridge banks (the engine seam).

    Returns:
        The evidence of :func:`select_per_entity` and the rows per entity of ``history``.

    """
    target = check_target(history, "history")
    eligible = _eligible_entities(history, target, folds, selection)
    parts = [
        _fold_evidence(
            history,
            target,
            fold,
            fold_global[fold.index],
            eligible,
            settings,
            selection,
            local_features,
            objective,
            fitter,
        )
        for fold in folds
    ]
    g = np.concatenate([part.global_prediction for part in parts])
    predictions = {
        kind: np.concatenate([part.predictions[kind] for part in parts])
        for kind in parts[0].predictions
    }
    n_candidates = len(parts[0].variances)
    evidence = Evidence(
        entity_ids=np.concatenate([part.entity_ids for part in parts]),
        target=np.concatenate([part.target for part in parts]),
        global_prediction=g,
        candidates=candidates_from_predictions(
            predictions,
            np.concatenate([part.weight for part in parts]),
            settings,
            g,
            [np.concatenate([part.variances[i] for part in parts]) for i in range(n_candidates)],
        ),
        fold=np.concatenate([np.full(len(part.target), part.fold) for part in parts]),
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


def decoded_decisions(decisions: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Return decision records made on integer entity codes with the entity ids instead.

    ``ids`` are those of :func:`glocal.models.frames.coded_entities`.
    """
    codes = decisions[ENTITY_COLUMN].to_numpy(dtype=np.int64)
    return decisions.assign(**{ENTITY_COLUMN: ids.take(codes).to_numpy()})
