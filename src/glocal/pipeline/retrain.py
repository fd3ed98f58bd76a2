"""The training step of the pipeline: decide full / refresh / incremental / skip, then fit.

* **full**: no production model yet, the model settings changed, the global model is due
  and its last full fit is ``pipeline.global_reselect_days`` old, or ``--retrain-global``:
  a new :class:`HybridModel` on the production layout, every entity re-selected against
  the new global model.
* **refresh**: the global model is due but its last full fit is younger than
  ``pipeline.global_reselect_days``: the global stage's learners are refitted on today's
  history with the members, weights and sizes the full fit chose, then the changed
  entities are retrained as below (:func:`glocal.models.incremental.refresh_global`).
* **incremental**: the previous global model is kept; only entities with new transactions
  (changed fingerprint) or never seen before get new local models and decisions
  (:func:`glocal.models.incremental.refit_entities`); all others are carried forward.
* **skip**: the panel and the model settings are those of the production run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from glocal.config import Settings
from glocal.core.hashing import hash_json
from glocal.pipeline.fingerprints import EntityChanges, compare_fingerprints
from glocal.pipeline.state import STATE_COLUMNS
from glocal.pipeline.training import (
    ProductionSplit,
    drift_baseline,
    global_retrain_due,
    validation_metrics,
)
from glocal.registry import ENTITY_MODEL_COLUMNS

if TYPE_CHECKING:
    from glocal.models import HybridModel
    from glocal.models.local_bank import BankFitter

__all__ = ["TrainingOutcome", "TrainingPlan", "model_key", "plan_training", "train"]

Mode = Literal["skip", "full", "refresh", "incremental"]


def model_key(settings: Settings) -> str:
    """Hash of every setting that changes a trained model (not the data)."""
    return hash_json(
        {
            "seed": settings.seed,
            "objective": settings.objective,
            "horizon_days": settings.features.horizon_days,
            "global_model": settings.global_model.model_dump(mode="json"),
            "local_models": settings.local_models.model_dump(mode="json"),
            "selection": settings.selection.model_dump(mode="json"),
            "split": settings.split.model_dump(mode="json"),
        }
    )


@dataclass(frozen=True)
class TrainingPlan:
    """What the training step will do and why."""

    mode: Mode
    reason: str
    training_key: str
    model_key: str


def plan_training(
    previous: dict[str, Any] | None,
    panel_key: str,
    settings: Settings,
    data_end: dt.date,
    retrain_global: bool,
) -> TrainingPlan:
    """Choose full, refresh, incremental or skip from the production run's pipeline record.

    Args:
        previous: ``metrics.pipeline`` of the production bundle's manifest, or ``None``.
        panel_key: Content key of today's panel.
        settings: Today's settings.
        data_end: The day after the last transaction of today's data.
        retrain_global: ``--retrain-global`` was given.

    """
    models = model_key(settings)
    training = hash_json({"panel": panel_key, "model": models})

    def plan(mode: Mode, reason: str) -> TrainingPlan:
        return TrainingPlan(mode, reason, training, models)

    if previous is None:
        return plan("full", "no production model yet")
    if previous.get("model_key") != models:
        return plan("full", "model settings changed since the production run")
    if retrain_global:
        return plan("full", "--retrain-global was given")
    if previous.get("training_key") == training:
        return plan("skip", "panel and model settings unchanged since the production run")
    trained_end = previous.get("global", {}).get("data_end")
    due, why = global_retrain_due(
        dt.date.fromisoformat(trained_end) if trained_end else None,
        data_end,
        settings.pipeline.global_retrain_days,
    )
    if not due:
        return plan("incremental", f"new data; {why}: kept")
    selected = previous.get("global", {}).get("selected_data_end")
    age = (data_end - dt.date.fromisoformat(selected)).days if selected else None
    cadence = settings.pipeline.global_reselect_days
    if age is None or age >= cadence:
        last = "none recorded" if age is None else f"{age} days old (every {cadence} days)"
        return plan("full", f"{why}; full fit: the last is {last}")
    return plan(
        "refresh",
        f"{why}: its learners refitted; the last full fit is {age} days old (every {cadence} days)",
    )


@dataclass
class TrainingOutcome:
    """A trained (or merged) model with its entity state, counts and metrics."""

    model: HybridModel
    state: pd.DataFrame
    entity_models: pd.DataFrame
    global_info: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    drift_baseline: dict[str, Any] | None = None


def _switched(previous: pd.DataFrame | None, current: pd.DataFrame) -> int:
    if previous is None:
        return 0
    joined = previous[["entity_id", "decision"]].merge(
        current[["entity_id", "decision"]], on="entity_id", suffixes=("_old", "_new")
    )
    return int((joined["decision_old"] != joined["decision_new"]).sum())


def _text_ids(ids: pd.Series) -> pd.Index:
    """Return entity ids as an object Index of text: its ``isin`` is one hash lookup each."""
    index: pd.Index = pd.Index(ids.astype(str).to_numpy(dtype=object), dtype=object)
    return index


def _entity_models(decisions: pd.DataFrame, state: pd.DataFrame, carried: pd.Index) -> pd.DataFrame:
    lineage = state.set_index("entity_id")
    ids = _text_ids(decisions["entity_id"])
    frame = decisions.loc[:, list(ENTITY_MODEL_COLUMNS[:9])].reset_index(drop=True)
    frame["trained_at"] = lineage["trained_at"].reindex(ids).to_numpy()
    frame["global_version_id"] = lineage["global_version_id"].reindex(ids).to_numpy()
    frame["carried_forward"] = ids.isin(carried)
    return frame.loc[:, list(ENTITY_MODEL_COLUMNS)]


def _state(
    fingerprints: pd.DataFrame,
    retrained: pd.Index,
    previous_state: pd.DataFrame | None,
    run_id: str,
    now: dt.datetime,
    global_version_id: str,
) -> pd.DataFrame:
    state = fingerprints.copy()
    state["trained_run_id"] = run_id
    state["trained_at"] = pd.Timestamp(now).as_unit("us")
    state["global_version_id"] = global_version_id
    if previous_state is not None:
        kept = ~state["entity_id"].isin(retrained).to_numpy()
        old = previous_state.set_index("entity_id")
        for column in ("trained_run_id", "trained_at", "global_version_id"):
            values = old[column].reindex(state.loc[kept, "entity_id"]).to_numpy()
            state.loc[kept, column] = values
    return state.loc[:, list(STATE_COLUMNS)]


def _fit_full(
    layout: ProductionSplit, settings: Settings, fitter: BankFitter | None
) -> HybridModel:
    """Fit a new hybrid model on today's whole history: every entity re-selected."""
    from glocal.models import HybridModel  # LightGBM, SciPy: only when training

    return HybridModel(
        global_model=settings.global_model,
        local_models=settings.local_models,
        selection=settings.selection,
        seed=settings.seed,
        split=settings.split,
        horizon_days=settings.features.horizon_days,
        objective=settings.objective,
        **({} if fitter is None else {"bank_fitter": fitter}),
    ).fit(layout.history)


def _refit_changed(
    model: HybridModel,
    layout: ProductionSplit,
    changes: EntityChanges,
    settings: Settings,
    *,
    refresh: bool,
    fitter: BankFitter | None,
) -> HybridModel:
    """Return the production model with the changed entities retrained, the rest carried.

    With ``refresh``, the global stage's learners are first refitted on today's history.
    """
    from glocal.models.incremental import refit_entities, refresh_global

    if refresh:
        model = refresh_global(model, layout.history)
    update = refit_entities(
        model,
        layout.history,
        changes.retrain,
        drop=changes.removed,
        local_models=settings.local_models,
        selection=settings.selection,
        **({} if fitter is None else {"bank_fitter": fitter}),
    )
    return update.model


def train(
    plan: TrainingPlan,
    layout: ProductionSplit,
    fingerprints: pd.DataFrame,
    settings: Settings,
    run_id: str,
    now: dt.datetime,
    data_end: dt.date,
    previous: tuple[HybridModel, pd.DataFrame, dict[str, Any]] | None,
    demoted: Collection[str] = (),
    fitter: BankFitter | None = None,
) -> TrainingOutcome:
    """Fit the model the plan asks for (``full``, ``refresh`` or ``incremental``).

    Entities in ``demoted`` (demotions in force in the registry) are then served by the
    global stage whatever their selection said (reason ``DEMOTED``).

    Args:
        plan: From :func:`plan_training` (not ``skip``).
        layout: Today's production train/validation rows.
        fingerprints: Today's entity fingerprints.
        settings: Today's settings.
        run_id: This run's id.
        now: The run's time (UTC).
        data_end: The day after the last transaction of today's data.
        previous: Production model, its entity state and pipeline record, if any.
        demoted: Ids of the entities whose demotion is in force.
        fitter: What fits the per-entity ridge banks (:mod:`glocal.pipeline.engine`);
            None: in this process.

    """
    old_model, old_state, old_record = previous if previous is not None else (None, None, None)
    old_decisions = old_model.decisions_ if old_model is not None else None
    if old_state is not None:
        changes = compare_fingerprints(old_state, fingerprints)
    else:
        empty = pd.Index([], dtype=object)
        changes = EntityChanges(empty, pd.Index(fingerprints["entity_id"]), empty, empty)

    reuse = plan.mode in ("incremental", "refresh")
    if reuse and old_model is not None and old_record is not None:
        global_info = dict(old_record["global"])
        refresh = plan.mode == "refresh"
        if refresh:
            global_info.update(
                version_id=f"gm-{run_id}", trained_run_id=run_id, data_end=data_end.isoformat()
            )
        model = _refit_changed(old_model, layout, changes, settings, refresh=refresh, fitter=fitter)
        retrained, carried = changes.retrain, changes.carried
    else:
        global_info = {"version_id": f"gm-{run_id}", "trained_run_id": run_id}
        global_info["data_end"] = global_info["selected_data_end"] = data_end.isoformat()
        model = _fit_full(layout, settings, fitter)
        retrained = pd.Index(fingerprints["entity_id"], dtype=object)
        carried = pd.Index([], dtype=object)
        old_state = None
    demoted_count = model.demote(demoted) if len(demoted) else 0
    state = _state(fingerprints, retrained, old_state, run_id, now, global_info["version_id"])
    counts = {
        "entities": len(fingerprints),
        "retrained": len(retrained),
        "carried_forward": len(carried),
        "newly_seen": len(changes.new),
        "removed": len(changes.removed),
        "switched": _switched(old_decisions, model.decisions_),
        "demoted": demoted_count,
    }
    metrics = {
        "validation": validation_metrics(model.decisions_),
        "layout": layout.to_dict(),
        "hybrid": model.report_,
    }
    # a hash lookup on object ids: np.isin compares object arrays pairwise (quadratic in
    # the entities), and pandas' Arrow-string isin makes one Arrow scalar per id sought
    state_ids = _text_ids(state["entity_id"])
    decided_rows = _text_ids(model.decisions_["entity_id"]).isin(state_ids)
    decisions = model.decisions_.loc[decided_rows]
    return TrainingOutcome(
        model=model,
        state=state,
        entity_models=_entity_models(decisions, state, carried),
        global_info=global_info,
        counts=counts,
        metrics=metrics,
        drift_baseline=drift_baseline(layout.history),
    )
