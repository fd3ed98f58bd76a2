"""Incremental retraining: refit the local models of some entities, carry the rest forward.

A daily run sees new transactions for a few entities only. :func:`refit_entities` keeps a
fitted :class:`~glocal.models.HybridModel`'s global stage, fits every local candidate for
the *changed* entities at once on each validation fold (one vectorized bank fit per fold
on their rows only), decides them on their pooled validation rows against that global
stage at the test level of the last full fit, refits them on their whole history, and
merges the result with the untouched state of every other entity:

* ridge banks are merged as :meth:`LocalModelBank.to_frame` tables: the carried-forward
  entities' rows are copied, not recomputed, so their coefficients stay bit-identical;
* level/scale corrections and decision records are merged the same way.

There is no Python loop over entities: selecting, concatenating and sorting are whole-frame
operations.

Examples:
    >>> from glocal.data.synthetic import make_synthetic_panel
    >>> from glocal.config.models import GlobalModelSettings
    >>> panel, _ = make_synthetic_panel(40, 30, 3, heterogeneity=1.0, noise=0.3, seed=0)
    >>> model = HybridModel(GlobalModelSettings(params={"n_estimators": 50})).fit(panel)
    >>> update = refit_entities(model, panel, ["E01", "E02"])
    >>> sorted(update.retrained)
    ['E01', 'E02']
    >>> len(update.model.decisions_) == len(model.decisions_)
    True

"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glocal.config.models import LocalModelSettings, SelectionSettings
from glocal.core.errors import ModelError
from glocal.models.candidates import CandidateSet
from glocal.models.corrections import ShrunkCorrection
from glocal.models.evidence import collect_evidence, decide, decoded_decisions
from glocal.models.frames import ENTITY_COLUMN, TIME_COLUMN, check_target, coded_entities
from glocal.models.hybrid import HybridModel, sorted_by_entity
from glocal.models.local_bank import BankFitter, LocalModelBank, fit_local_banks

__all__ = [
    "IncrementalUpdate",
    "merge_banks",
    "merge_corrections",
    "refit_entities",
    "refresh_global",
]


@dataclass(frozen=True)
class IncrementalUpdate:
    """The outcome of :func:`refit_entities`.

    Attributes:
        model: The merged model: the previous global model, refreshed state for the
            retrained entities, the previous state for every other entity.
        retrained: Entities whose local state was recomputed (they may have no decision
            afterwards when they have no training rows yet).
        decided: Retrained entities that got a new decision record.

    """

    model: HybridModel
    retrained: pd.Index
    decided: pd.Index


def _rows_of(frame: pd.DataFrame, entities: pd.Index) -> pd.DataFrame:
    mine = frame[ENTITY_COLUMN].isin(entities).to_numpy()
    keys = [ENTITY_COLUMN, TIME_COLUMN] if TIME_COLUMN in frame else [ENTITY_COLUMN]
    return frame.loc[mine].sort_values(keys, kind="stable").reset_index(drop=True)


def _merge_tables(kept: pd.DataFrame, fresh: pd.DataFrame, replaced: pd.Index) -> pd.DataFrame:
    """Rows of ``kept`` whose entity is not in ``replaced``, plus ``fresh``, by entity id."""
    carried = kept.loc[~kept[ENTITY_COLUMN].isin(replaced).to_numpy()]
    parts = [part for part in (carried, fresh) if len(part)]
    if not parts:
        return kept.iloc[0:0].reset_index(drop=True)
    merged = pd.concat(parts, ignore_index=True)
    merged[ENTITY_COLUMN] = merged[ENTITY_COLUMN].astype(kept[ENTITY_COLUMN].dtype)
    return merged.sort_values(ENTITY_COLUMN, kind="stable").reset_index(drop=True)


def merge_banks(
    previous: LocalModelBank, fresh: LocalModelBank | None, replaced: Iterable[str]
) -> LocalModelBank:
    """Return a bank with ``fresh``'s models for ``replaced`` entities, ``previous``'s else.

    ``fresh=None`` removes the ``replaced`` entities.

    Raises:
        ModelError: The two banks use different features.

    """
    kept = previous.to_frame()
    if fresh is not None and list(previous.feature_columns_) != list(fresh.feature_columns_):
        raise ModelError(
            f"cannot merge local model banks over different features: "
            f"{previous.feature_columns_} and {fresh.feature_columns_}. Retrain every entity."
        )
    new = fresh.to_frame() if fresh is not None else kept.iloc[0:0]
    merged = LocalModelBank.from_frame(_merge_tables(kept, new, pd.Index(list(replaced))))
    merged.alphas, merged.standardize = previous.alphas, previous.standardize
    merged.min_train_rows, merged.n_jobs = previous.min_train_rows, previous.n_jobs
    merged.clip = previous.clip
    return merged


def merge_corrections(
    previous: ShrunkCorrection, fresh: ShrunkCorrection | None, replaced: Iterable[str]
) -> ShrunkCorrection:
    """Return a correction with ``fresh``'s values for ``replaced`` entities, else ``previous``'s.

    ``fresh=None`` removes the ``replaced`` entities.
    """
    kept = previous.to_frame()
    new = fresh.to_frame() if fresh is not None else kept.iloc[0:0]
    table = _merge_tables(kept, new, pd.Index(list(replaced)))
    merged = ShrunkCorrection(
        previous.kind, previous.shrinkage_rows, previous.min_train_rows, previous.objective
    )
    merged.entity_ids_ = pd.Index(table[ENTITY_COLUMN].to_numpy(), name=ENTITY_COLUMN)
    merged.value_ = table["value"].to_numpy(dtype=np.float64)
    merged.n_train_ = table["n_train"].to_numpy(dtype=np.int64)
    return merged


def _merge_candidates(
    previous: CandidateSet, fresh: CandidateSet | None, replaced: pd.Index
) -> CandidateSet:
    merged = CandidateSet(previous.settings, previous.feature_columns)
    merged.banks_ = {
        kind: merge_banks(bank, fresh.banks_[kind] if fresh else None, replaced)
        for kind, bank in previous.banks_.items()
    }
    merged.corrections_ = {
        kind: merge_corrections(correction, fresh.corrections_[kind] if fresh else None, replaced)
        for kind, correction in previous.corrections_.items()
    }
    return merged


def _fit_subset(
    model: HybridModel,
    history: pd.DataFrame,
    rows: pd.DataFrame,
    settings: LocalModelSettings,
    selection: SelectionSettings,
    fitter: BankFitter,
) -> tuple[CandidateSet, pd.DataFrame]:
    """Fit, decide and refit the candidates of the entities of ``rows`` (as ``fit`` does).

    The folds are laid over today's whole ``history``, so their dates match a full fit.
    The kept global stage was fitted on these rows' past, so its predictions of them are
    in-sample: the candidates are judged against a global model that already saw the
    validation folds, which makes leaving it harder, never easier. The test level is the
    one the population guard chose at the last full fit.
    """
    folds, lags = model.layout(history)
    global_prediction = model.global_stage_.predict(rows)
    cutoffs = rows[TIME_COLUMN]
    fold_global = [
        (
            global_prediction[fold.train_mask(cutoffs)],
            global_prediction[fold.validation_mask(cutoffs)],
        )
        for fold in folds
    ]
    coded, ids = coded_entities(
        rows, model.local_feature_columns_
    )  # the per-entity work runs on integer codes
    evidence, n_train = collect_evidence(
        coded,
        folds,
        fold_global,
        settings,
        selection,
        model.local_feature_columns_,
        model.objective,
        lags,
        fitter,
    )
    decisions = decide(evidence, n_train, settings, selection, model.guard_level_)
    candidates = CandidateSet(settings, model.local_feature_columns_, model.objective, fitter)
    candidates.fit(coded, check_target(rows, "history"), global_prediction)
    return candidates.relabel(ids), decoded_decisions(decisions, ids)


def refit_entities(
    model: HybridModel,
    history: pd.DataFrame,
    entities: Iterable[str],
    *,
    drop: Iterable[str] = (),
    local_models: LocalModelSettings | None = None,
    selection: SelectionSettings | None = None,
    bank_fitter: BankFitter = fit_local_banks,
) -> IncrementalUpdate:
    """Retrain the local candidates of ``entities`` against ``model``'s global stage.

    Args:
        model: A fitted hybrid model (e.g. the production one, loaded from its bundle).
            It is not modified.
        history: Every row with a known target (any entities; only those of ``entities``
            are refitted, the others only place the folds).
        entities: Entities to retrain, e.g. those with new transactions.
        drop: Entities to remove from the model (their data is gone).
        local_models: Local model settings; default: ``model.local_models``.
        selection: Selection settings; default: ``model.selection``.
        bank_fitter: What fits the ridge banks (the engine seam); in-process by default.

    Returns:
        The merged model and which entities were retrained and decided.

    Raises:
        NotFittedError: ``model`` is not fitted.
        ModelError: The retrained rows have unusable targets.

    """
    model._check_fitted()
    settings = local_models or model.local_models or LocalModelSettings()
    selection = selection or model.selection or SelectionSettings()
    retrained = pd.Index(sorted(set(entities)), dtype=object, name=ENTITY_COLUMN)
    removed = pd.Index(sorted(set(drop) | set(retrained)), dtype=object, name=ENTITY_COLUMN)
    rows = _rows_of(history, retrained)

    merged = copy.copy(model)
    fresh: CandidateSet | None = None
    decisions = model.decisions_.iloc[0:0]
    if len(rows):
        fresh, decisions = _fit_subset(model, history, rows, settings, selection, bank_fitter)
    merged.candidates_ = _merge_candidates(model.candidates_, fresh, removed)
    merged.decisions_ = _merge_tables(model.decisions_, decisions, removed)
    merged.local_bank_ = merged.candidates_.banks_["direct"]
    decided = pd.Index(decisions[ENTITY_COLUMN].to_numpy(), name=ENTITY_COLUMN)
    return IncrementalUpdate(model=merged, retrained=retrained, decided=decided)


def refresh_global(model: HybridModel, history: pd.DataFrame) -> HybridModel:
    """Return a copy of ``model`` whose global stage's learners are refitted on ``history``.

    The weekly retraining between two full fits: the stage keeps its members, weights,
    sizes and entity-id choice (:meth:`GlobalStage.refresh`), and every local candidate and
    decision is kept; :func:`refit_entities` then retrains the changed entities against
    the refreshed stage. ``model`` is not modified.
    """
    model._check_fitted()
    refreshed = copy.copy(model)
    refreshed.global_stage_ = model.global_stage_.refresh(sorted_by_entity(history))
    refreshed.report_ = {**model.report_, "global_stage": refreshed.global_stage_.report_}
    return refreshed
