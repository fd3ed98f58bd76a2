"""The evidence the per-entity choice is made on: every candidate, per fold, out of time.

For every validation fold, every candidate kind is fitted for all entities at once on the
fold's training rows (residual-type candidates correct the global stage's in-sample
prediction) and predicts the fold's validation rows, which the global stage predicted out
of time too. The rows of all folds are pooled into one :class:`Evidence`, together with
each candidate's variance floor: the variance of its residuals over the entity's training
rows, shrunk toward its peers' (:mod:`glocal.models.residual_variance`).
The work runs chunk by chunk of entities: each chunk's fits and moments are per entity,
and what spans the population is computed once over all of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config.models import CandidateKind, LocalModelSettings, Objective, SelectionSettings
from glocal.core.memory import release_free_memory
from glocal.features.split import Fold
from glocal.models.candidates import CandidateSet, blend_weight
from glocal.models.corrections import IntermittentPrior, intermittent_prior
from glocal.models.evidence_rows import Blend, EntityFloor, Floor, Prediction, as_array
from glocal.models.fold_statistics import FoldTests
from glocal.models.frames import (
    ENTITY_COLUMN,
    TIME_COLUMN,
    check_target,
    entity_chunks,
    entity_positions,
    factorize_sorted,
)
from glocal.models.local_bank import BankFitter, fit_local_banks, partitions_entities
from glocal.models.residual_variance import ResidualMoments, residual_moments, shrink_variances
from glocal.models.selection import Candidate, Evidence, select_per_entity

__all__ = ["candidates_from_predictions", "collect_evidence", "decide", "decoded_decisions"]

FloatArray = npt.NDArray[np.float64]

_BLEND = "+blend"

EVIDENCE_CHUNK_ROWS = 500_000
"""Rows per chunk of entities in :func:`collect_evidence` (in this process)."""


def candidates_from_predictions(
    predictions: dict[CandidateKind, FloatArray],
    weight: FloatArray,
    settings: LocalModelSettings,
    global_prediction: FloatArray,
    variances: Sequence[Floor] | None = None,
    lazy: bool = False,
) -> list[Candidate]:
    """Return every candidate of the selection: each kind, and its blend if configured.

    ``variances`` (one array per returned candidate, in order) are their variance floors.
    ``lazy``: each blend is a :class:`~glocal.models.evidence_rows.Blend`, computed where
    it is read (the same numbers), instead of an array.
    """
    candidates: list[Candidate] = []
    for kind, prediction in predictions.items():
        candidates.append(Candidate(kind, "local", prediction))
        if settings.blend:
            blended: Prediction = (
                Blend(prediction, global_prediction, weight)
                if lazy
                else global_prediction + weight * (prediction - global_prediction)
            )
            candidates.append(Candidate(kind + _BLEND, "blend", blended, weight))
    if variances is not None:
        candidates = [
            Candidate(c.name, c.decision, c.prediction, c.weight, variance)
            for c, variance in zip(candidates, variances, strict=True)
        ]
    return candidates


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
    """One chunk's validation rows of a fold with every candidate's out-of-time prediction.

    ``moments``: per candidate, the in-sample residual moments of the eligible entities,
    from which the variance floors are shrunk over the whole population.
    """

    fold: int
    entity_ids: npt.NDArray[Any]
    target: FloatArray
    global_prediction: FloatArray
    predictions: dict[CandidateKind, FloatArray]
    weight: FloatArray
    moments: list[ResidualMoments]


@dataclass(frozen=True)
class _FoldSetup:
    """What every chunk of one fold shares: settings, the eligible, the population prior."""

    settings: LocalModelSettings
    local_features: list[str]
    objective: Objective
    fitter: BankFitter
    eligible: pd.Index
    prior: IntermittentPrior | None


def _in_sample_moments(
    candidates: CandidateSet,
    train: pd.DataFrame,
    y_train: FloatArray,
    g_train: FloatArray,
    settings: LocalModelSettings,
    eligible: npt.NDArray[np.bool_],
) -> list[ResidualMoments]:
    """Per candidate, the moments of each eligible training entity's in-sample residual.

    ``train`` and the arrays are the candidates' training rows; ``eligible`` selects the
    rows of the entities whose moments are wanted.
    """
    train, y_train, g_train = train.loc[eligible], y_train[eligible], g_train[eligible]
    ids = train[ENTITY_COLUMN].to_numpy()
    factorized = factorize_sorted(ids)
    rows = np.bincount(factorized[0]).astype(np.float64)[factorized[0]]  # its entity's rows
    in_sample = candidates_from_predictions(
        candidates.predict_fitted_rows(train, g_train, eligible),
        blend_weight(rows, settings.blend_shrinkage_rows),
        settings,
        g_train,
    )
    return [
        residual_moments(ids, y_train, as_array(candidate.prediction), factorized)
        for candidate in in_sample
    ]


def _chunk_evidence(
    chunk: pd.DataFrame,
    target: FloatArray,
    masks: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
    fold_global: tuple[FloatArray, FloatArray],
    fold: int,
    setup: _FoldSetup,
) -> _FoldEvidence:
    """Fit every candidate on a chunk's training rows of a fold; predict its validation rows."""
    settings = setup.settings
    train_mask, validation_mask = masks
    train, validation = chunk.loc[train_mask], chunk.loc[validation_mask]
    g_train, g_val = fold_global
    n_candidates = len(settings.candidates) * (2 if settings.blend else 1)
    if len(train):
        candidates = CandidateSet(
            settings, setup.local_features, setup.objective, setup.fitter
        ).fit(train, target[train_mask], g_train, setup.prior, keep_in_sample=True)
        predictions = candidates.predict(validation, g_val)
        keep = entity_positions(train[ENTITY_COLUMN].to_numpy(), setup.eligible) >= 0
        moments = _in_sample_moments(candidates, train, target[train_mask], g_train, settings, keep)
    else:  # the entities had no rows before this fold: no candidate there
        predictions = {kind: np.full(len(validation), np.nan) for kind in settings.candidates}
        moments = [ResidualMoments.concat([]) for _ in range(n_candidates)]
    codes, entities = factorize_sorted(train[ENTITY_COLUMN].to_numpy())
    n_train = pd.Series(np.bincount(codes, minlength=len(entities)), index=entities)
    rows = _per_row(n_train, validation[ENTITY_COLUMN].to_numpy())
    return _FoldEvidence(
        fold=fold,
        entity_ids=validation[ENTITY_COLUMN].to_numpy(),
        target=target[validation_mask],
        global_prediction=g_val,
        predictions=predictions,
        weight=blend_weight(rows, settings.blend_shrinkage_rows),
        moments=moments,
    )


def _fold_evidence(
    history: pd.DataFrame,
    target: FloatArray,
    fold: Fold,
    fold_global: tuple[FloatArray, FloatArray],
    chunks: list[slice],
    setup: _FoldSetup,
    pooled: _PooledRows,
    position: int,
) -> tuple[npt.NDArray[Any], list[ResidualMoments]]:
    """Fit every candidate on the fold's training rows, chunk by chunk of entities.

    Each chunk writes its validation rows straight into ``pooled`` (the fold's are the
    ``position``-th run there); returned are the fold's validation entity ids and, per
    candidate, the moments of the variance floors.
    """
    cutoffs = history[TIME_COLUMN]
    train_mask, validation_mask = fold.train_mask(cutoffs), fold.validation_mask(cutoffs)
    if "intermittent" in setup.settings.candidates:
        ids = history[ENTITY_COLUMN].to_numpy()[train_mask]
        setup = replace(setup, prior=intermittent_prior(ids, target[train_mask]))
    n_jobs = setup.settings.n_jobs
    workers = min(len(chunks), (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs))
    if workers > 1:  # the threads are over chunks: each chunk's fit runs on its own one
        setup = replace(setup, settings=setup.settings.model_copy(update={"n_jobs": 1}))
    # each chunk's rows of the fold's global predictions (which are in row order)
    train_before = np.concatenate([[0], np.cumsum(train_mask)])
    validation_before = np.concatenate([[0], np.cumsum(validation_mask)])
    g_train, g_val = fold_global
    first_row = pooled.fold_start(position)

    def chunk_evidence(rows: slice) -> tuple[npt.NDArray[Any], list[ResidualMoments]]:
        start, stop = rows.start, rows.stop
        part_global = (
            g_train[train_before[start] : train_before[stop]],
            g_val[validation_before[start] : validation_before[stop]],
        )
        masks = (train_mask[rows], validation_mask[rows])
        chunk = history.iloc[rows]
        part = _chunk_evidence(chunk, target[rows], masks, part_global, fold.index, setup)
        # the chunk's validation rows are a run of the fold's: no copy of the fold is made
        at = slice(
            first_row + int(validation_before[start]), first_row + int(validation_before[stop])
        )
        pooled.write(at, part)
        return part.entity_ids, part.moments

    if workers <= 1:
        parts = [chunk_evidence(rows) for rows in chunks]
    else:
        # chunks run side by side (numpy releases the GIL in the fits, bincounts and
        # sorts); each writes its own rows, and the parts come back in chunk order
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(chunk_evidence, chunks))
        release_free_memory()  # what the threads' heaps kept would add to the next peak
    entity_ids = np.concatenate([ids for ids, _ in parts])
    moments = [
        ResidualMoments.concat([candidate[i] for _, candidate in parts])
        for i in range(len(parts[0][1]))
    ]
    return entity_ids, moments


def _per_row(per_entity: pd.Series, entity_ids: npt.NDArray[Any]) -> FloatArray:
    """Return ``per_entity.reindex(entity_ids)`` as floats, 0 where it would be missing."""
    at = entity_positions(entity_ids, per_entity.index)
    if not len(per_entity):
        return np.zeros(len(at))
    found = np.where(at >= 0, per_entity.to_numpy(np.float64)[at], np.nan)
    return np.where(np.isnan(found), 0.0, found)


class _PooledRows:
    """The validation rows of every fold, written in place chunk by chunk (no copies)."""

    def __init__(self, sizes: list[int], kinds: list[CandidateKind], n_candidates: int) -> None:
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        total = int(self.offsets[-1])
        self.entity_ids: list[npt.NDArray[Any]] = []
        self.target, self.global_prediction = np.empty(total), np.empty(total)
        self.weight = np.empty(total)
        self.fold = np.empty(total, dtype=np.int64)
        self.predictions = {kind: np.empty(total) for kind in kinds}
        # the floors: one value per (fold, entity) and candidate, and each row's position
        self.floor_at = np.empty(total, dtype=np.int64)
        self.floor_values: list[list[FloatArray]] = [[] for _ in range(n_candidates)]
        self.floor_cells = 0

    def fold_start(self, position: int) -> int:
        """Return the first row of the ``position``-th fold."""
        return int(self.offsets[position])

    def write(self, rows: slice, part: _FoldEvidence) -> None:
        """Write one chunk's validation rows (threads write disjoint runs: no lock)."""
        self.target[rows], self.global_prediction[rows] = part.target, part.global_prediction
        self.weight[rows], self.fold[rows] = part.weight, part.fold
        for kind, prediction in part.predictions.items():
            self.predictions[kind][rows] = prediction

    def add_floors(
        self,
        position: int,
        entity_ids: npt.NDArray[Any],
        moments: list[ResidualMoments],
        prior_rows: float,
    ) -> None:
        """Write the next fold's entity ids and each candidate's variance floors."""
        rows = slice(int(self.offsets[position]), int(self.offsets[position + 1]))
        self.entity_ids.append(entity_ids)
        # every candidate's moments are of the same entities (each keeps every entity of
        # the training rows): find the fold's rows among them once
        known = pd.Index(moments[0].entity_ids if moments else [])
        at = entity_positions(entity_ids, known)
        self.floor_at[rows] = np.where(at >= 0, at + self.floor_cells, -1)

        def floors(candidate_moments: ResidualMoments) -> FloatArray:
            # no floor (NaN) only where it cannot matter: an entity that may not leave
            # global, or a candidate without a model there (its prediction is NaN too);
            # 0 says so and spares the selection a fallback floor
            shrunk = shrink_variances(candidate_moments, prior_rows)
            if not np.array_equal(candidate_moments.entity_ids, known.to_numpy()):
                shrunk = shrunk.reindex(known)
            values = shrunk.to_numpy(np.float64)
            return np.where(np.isnan(values), 0.0, values)

        # the population's shrinkage, candidate by candidate (sorts release the interpreter)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for store, values in zip(self.floor_values, pool.map(floors, moments), strict=True):
                store.append(values)
        self.floor_cells += len(known)

    def floors(self) -> list[EntityFloor]:
        """Return each candidate's variance floor of every row."""
        return [
            EntityFloor(np.concatenate(values) if values else np.zeros(0), self.floor_at)
            for values in self.floor_values
        ]


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
    chunk_rows: int | None = None,
) -> tuple[Evidence, pd.Series]:
    """Fit the candidates per fold and collect their out-of-time validation rows.

    The per-entity work runs over chunks of entities, so its working memory is that of
    one chunk; what spans the population (the ``intermittent`` prior, the peers' prior of
    the variance floors) is computed once over every entity, so the result does not depend
    on the chunks.

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
        chunk_rows: Rows per chunk of entities (integer entity codes only, see
            :func:`~glocal.models.frames.entity_chunks`); ``None``:
            :data:`EVIDENCE_CHUNK_ROWS`, or one chunk for a fitter that partitions the
            entities itself (:func:`~glocal.models.local_bank.partitions_entities`).

    Returns:
        The evidence of :func:`select_per_entity` and the rows per entity of ``history``.

    """
    target = check_target(history, "history")
    eligible = _eligible_entities(history, target, folds, selection)
    if chunk_rows is None:
        chunk_rows = max(1, len(history)) if partitions_entities(fitter) else EVIDENCE_CHUNK_ROWS
    chunks = entity_chunks(history[ENTITY_COLUMN].to_numpy(), chunk_rows)
    setup = _FoldSetup(settings, local_features, objective, fitter, eligible, prior=None)
    cutoffs = history[TIME_COLUMN]
    sizes = [int(fold.validation_mask(cutoffs).sum()) for fold in folds]
    n_candidates = len(settings.candidates) * (2 if settings.blend else 1)
    pooled = _PooledRows(sizes, list(settings.candidates), n_candidates)
    for position, fold in enumerate(folds):  # each chunk writes its rows into place
        ids, moments = _fold_evidence(
            history, target, fold, fold_global[fold.index], chunks, setup, pooled, position
        )
        pooled.add_floors(position, ids, moments, selection.variance_prior_rows)
        del moments
    evidence = Evidence(
        entity_ids=np.concatenate(pooled.entity_ids),
        target=pooled.target,
        global_prediction=pooled.global_prediction,
        candidates=candidates_from_predictions(
            pooled.predictions,
            pooled.weight,
            settings,
            pooled.global_prediction,
            pooled.floors(),
            lazy=True,
        ),
        fold=pooled.fold,
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
    tests: FoldTests | None = None,
) -> pd.DataFrame:
    """Return the decision records of ``evidence`` at the test ``level``.

    ``tests``: :func:`~glocal.models.selection.fold_tests` of ``evidence``, shared with
    the guard; ``None``: reduced here.
    """
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
        tests=tests,
    )


def decoded_decisions(decisions: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Return decision records made on integer entity codes with the entity ids instead.

    ``ids`` are those of :func:`glocal.models.frames.coded_entities`.
    """
    codes = decisions[ENTITY_COLUMN].to_numpy(dtype=np.int64)
    return decisions.assign(**{ENTITY_COLUMN: ids.take(codes).to_numpy()})
