"""``run_pipeline``: every step of the daily job, each skipped when its inputs are unchanged.

Steps: ingest -> features -> train (global model if due, local models, selection) ->
bundle -> register -> promote -> predict -> prune (retention of old bundles). The caller
holds the workspace lock (:class:`glocal.pipeline.lock.WorkspaceLock`). Every output is
published atomically and the ``production`` alias moves last, in one registry transaction,
so a crash or ``kill -9`` at any point leaves production on the last complete run; what
a killed run leaves behind (a temporary bundle directory, an orphan entity state, a
registered but unpromoted run) is removed or ignored by the next run.

``run_pipeline(..., on_step=hook)`` calls ``hook(step)`` before each step (and before the
entity state is written, as ``"state"``): the crash tests pause a real run there to kill it.
Nothing in the environment can make a production run pause.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from glocal.config import Settings, Workspace
from glocal.core import clock
from glocal.core.background import BackgroundCall
from glocal.core.errors import ConfigError
from glocal.core.logging import get_logger
from glocal.core.progress import StepProgress, step_progress
from glocal.core.storage import is_url
from glocal.data import DataVersion
from glocal.data.versions import CLEAN_FILE
from glocal.pipeline.engine import bank_fitter, shared_spark_session
from glocal.pipeline.fingerprints import entity_fingerprints
from glocal.pipeline.model_imports import ModelImports
from glocal.pipeline.predict import (
    daily_prediction_path,
    latest_snapshot,
    score_latest_on_spark,
    score_snapshot,
    snapshot_cutoff,
    write_predictions,
)
from glocal.pipeline.remote import location_of, remove_unregistered, sync_workspace
from glocal.pipeline.retention import prune_old_runs
from glocal.pipeline.retrain import TrainingOutcome, TrainingPlan, plan_training, train
from glocal.pipeline.state import (
    cleanup_orphan_states,
    read_entity_state,
    utc_now,
    write_entity_state,
)
from glocal.pipeline.steps import PanelStep, data_step, panel_step, transactions_as_of
from glocal.pipeline.summary import RunSummary, StepRecord
from glocal.pipeline.training import production_split
from glocal.registry import (
    BundleMetadata,
    GlobalVersion,
    Registry,
    RunRecord,
    cleanup_partial_bundles,
    list_bundles,
    new_run_id,
    publish_bundle,
    verify_bundle,
    write_bundle,
)

if TYPE_CHECKING:
    from glocal.models import HybridModel

__all__ = ["STEPS", "StepHook", "run_pipeline"]

StepHook = Callable[[str], None]
"""Called with a step's name just before the step runs."""

STEPS = ("ingest", "features", "train", "bundle", "register", "promote", "predict", "prune")
"""The steps of a run, in order."""

_log = get_logger(__name__)


class _Steps:
    """Times each step, records ran/skipped, and advances the progress bar."""

    def __init__(
        self,
        summary: RunSummary,
        progress: StepProgress,
        on_step: StepHook | None,
        stop_after: str | None = None,
    ) -> None:
        self.summary = summary
        self.progress = progress
        self.on_step = on_step
        self.stop_after = stop_after
        self.halted = False

    def runs(self, name: str) -> bool:
        """Whether step ``name`` is within ``stop_after``."""
        return self.stop_after is None or STEPS.index(name) <= STEPS.index(self.stop_after)

    def stopped(self, name: str) -> bool:
        """Whether the run stops before ``name`` (it comes after ``stop_after``).

        The first time, ``name`` and every later step are recorded as skipped.
        """
        if self.runs(name):
            return False
        if not self.halted:
            detail = f"stopped after {self.stop_after} (--stop-after)"
            for rest in STEPS[STEPS.index(name) :]:
                self.summary.steps.append(StepRecord(rest, "skipped", 0.0, detail))
                self.progress.advance(rest)
            self.halted = True
        return True

    def reached(self, name: str) -> None:
        """Tell the hook, if any, that ``name`` is about to run."""
        if self.on_step is not None:
            self.on_step(name)

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        self.reached(name)
        self.progress.advance(name)
        outcome = {"status": "ran", "detail": ""}
        start = time.perf_counter()
        yield outcome
        seconds = time.perf_counter() - start
        record = StepRecord(name, outcome["status"], seconds, outcome["detail"])
        self.summary.steps.append(record)
        _log.debug("step %s %s in %.2f s: %s", name, record.status, seconds, record.detail)


_Production = tuple[str, Path, dict[str, Any]]
"""The production run: run id, bundle directory, verified manifest."""


def _production(workspace: Workspace, settings: Settings) -> _Production | None:
    with Registry.open(settings.registry.url, workspace) as registry:
        run_id = registry.alias("production")
        if run_id is None:
            return None
        bundle = registry.resolve_bundle(run_id)
    return run_id, bundle, verify_bundle(bundle)


def _cleanup(workspace: Workspace, settings: Settings) -> None:
    if workspace.store is not None:
        for key in workspace.store.remove_staging():
            _log.info("removed the staged upload %s of a killed run", key)
        with Registry.open(settings.registry.url, workspace) as registry:
            registered = set(registry.list_runs()["run_id"].astype(str))
        for key in remove_unregistered(workspace, registered):
            _log.info("removed %s of a run killed before it was registered", key)
    for path in cleanup_partial_bundles(workspace):
        _log.info("removed the unfinished bundle %s of a killed run", path.name)
    finished = {path.name for path in list_bundles(workspace)}
    for path in cleanup_orphan_states(workspace, finished):
        _log.info("removed the entity state %s of a killed run", path.name)


def _publish(
    workspace: Workspace,
    settings: Settings,
    run_id: str,
    outcome: TrainingOutcome,
    metadata: BundleMetadata,
    steps: _Steps,
) -> Path:
    """Write, register and promote the bundle (as far as ``stop_after`` allows); return it."""
    with steps.step("bundle") as note:
        path = write_bundle(workspace, run_id, outcome.model, metadata)
        manifest = verify_bundle(path)
        # with an object store: the bundle, then the data and entity state it relies on
        location = publish_bundle(workspace, path, manifest)
        sync_workspace(workspace)
        note["detail"] = location if is_url(location) else str(path.relative_to(workspace.root))
    if steps.stopped("register"):
        return path
    with steps.step("register") as note, Registry.open(settings.registry.url, workspace) as reg:
        summary = steps.summary.to_dict()
        record = RunRecord.from_manifest(manifest, location, workspace, summary=summary)
        reg.record_run(record, GlobalVersion.from_manifest(manifest), outcome.entity_models)
        note["detail"] = f"{len(outcome.entity_models):,} entity models"
    if steps.stopped("promote"):
        return path
    with steps.step("promote") as note, Registry.open(settings.registry.url, workspace) as reg:
        previous = reg.promote(run_id, verify=False)  # verified above, before registering
        note["detail"] = f"production: {previous or 'none'} -> {run_id}"
    steps.summary.production_run_id = run_id
    return path


def _train_step(
    workspace: Workspace,
    settings: Settings,
    plan: TrainingPlan,
    panel: pd.DataFrame,
    fingerprints: pd.DataFrame,
    data_end: dt.date,
    production: _Production | None,
    run_id: str,
) -> TrainingOutcome:
    layout = production_split(panel, settings.split, settings.features.horizon_days)
    previous = None
    if production is not None:
        record = production[2]["metrics"].get("pipeline")
        if record is not None:
            state = read_entity_state(workspace, production[0], record.get("state_sha256"))
            from glocal.core.errors import ModelError
            from glocal.models.persistence import load_hybrid

            try:
                previous = (load_hybrid(production[1]), state, record)
            except ModelError as exc:
                if plan.mode in ("incremental", "refresh"):
                    raise
                # a full retrain needs nothing from a model this glocal cannot read
                _log.info("previous production model not reused: %s", exc)
    with Registry.open(settings.registry.url, workspace) as registry:
        demoted = registry.active_demotions(utc_now())["entity_id"].tolist()
    with bank_fitter(settings) as fitter:
        return train(
            plan,
            layout,
            fingerprints,
            settings,
            run_id,
            utc_now(),
            data_end,
            previous,
            demoted,
            fitter,
        )


def _predict_step(
    workspace: Workspace,
    settings: Settings,
    production_run_id: str | None,
    model_source: Callable[[], HybridModel],
    steps: _Steps,
) -> Path | None:
    """Score the latest snapshot into ``predictions/daily/<its cutoff>.parquet``.

    With ``engine: spark`` the snapshot file is scored on Spark with the production
    bundle broadcast; the file holds the same rows.
    """
    with steps.step("predict") as note:
        if production_run_id is None:
            note["status"], note["detail"] = "skipped", "no production model"
            return None
        snapshot = latest_snapshot(workspace)
        path = daily_prediction_path(workspace, snapshot_cutoff(snapshot))
        if path.is_file():
            done = pd.read_parquet(path, columns=["entity_id", "cutoff", "run_id"])
            if (
                set(done["run_id"]) == {production_run_id}
                and len(done) == len(snapshot)
                and done["cutoff"].max() == snapshot["cutoff"].max()
            ):
                note["status"], note["detail"] = "skipped", f"{path.name} is current"
                return path
        if settings.engine == "spark":
            with Registry.open(settings.registry.url, workspace) as registry:
                bundle = registry.resolve_bundle(production_run_id)
            frame, _ = score_latest_on_spark(
                workspace, settings, production_run_id, bundle, model_source()
            )
        else:
            frame = score_snapshot(model_source(), snapshot, production_run_id)
        write_predictions(frame, path)
        note["detail"] = f"{len(frame):,} entities -> {path.relative_to(workspace.root)}"
        return path


def _prune_step(workspace: Workspace, settings: Settings, steps: _Steps) -> None:
    with steps.step("prune") as note:
        keep = settings.registry.keep_bundles
        if keep is None:
            note["status"], note["detail"] = "skipped", "registry.keep_bundles is null"
            return
        pruned = prune_old_runs(workspace, settings, keep)
        if pruned:
            note["detail"] = f"deleted {len(pruned)} bundle(s) older than the newest {keep} runs"
        else:
            note["status"], note["detail"] = "skipped", f"no bundle older than the newest {keep}"


def _record_and_publish(
    workspace: Workspace,
    settings: Settings,
    plan: TrainingPlan,
    run_id: str,
    outcome: TrainingOutcome,
    context: dict[str, Any],
    steps: _Steps,
) -> Path:
    """Write the entity state, then bundle, register and promote the new run; return its bundle."""
    production: _Production | None = context["production"]
    steps.summary.run_id = run_id
    steps.summary.counts = outcome.counts
    steps.summary.validation = outcome.metrics["validation"]
    steps.reached("state")
    state_sha = write_entity_state(workspace, run_id, outcome.state)
    pipeline_record = {
        "panel_key": context["panel_key"],
        "training_key": plan.training_key,
        "model_key": plan.model_key,
        "mode": plan.mode,
        "reason": plan.reason,
        "data_end": context["data_end"].isoformat(),
        "global": outcome.global_info,
        "state_sha256": state_sha,
        "counts": outcome.counts,
    }
    metadata = BundleMetadata(
        data_version=context["data_version"],
        settings=settings,
        metrics={**outcome.metrics, "pipeline": pipeline_record},
        parent_run_id=production[0] if production else None,
        global_version_id=outcome.global_info["version_id"],
        drift_baseline=context["drift_baseline"],
    )
    return _publish(workspace, settings, run_id, outcome, metadata, steps)


def _track(
    workspace: Workspace,
    settings: Settings,
    summary: RunSummary,
    outcome: TrainingOutcome,
    bundle: Path,
) -> None:
    """Log the new run to MLflow; a tracking failure is reported, never fatal.

    The run is registered (and promoted) before this: MLflow being down must not undo or
    fail a good production run.
    """
    if settings.tracking.mlflow_uri is None or summary.run_id is None:
        return
    from glocal.tracking import log_run_to_mlflow

    evaluation = workspace.evaluation_dir
    metrics = {**outcome.metrics, "counts": dict(outcome.counts)}
    try:
        summary.tracked = log_run_to_mlflow(
            settings,
            summary.run_id,
            bundle,
            metrics,
            evaluation if (evaluation / "metrics.json").is_file() else None,
        )
    except Exception as exc:  # any tracking failure is reported, not fatal
        summary.tracked = None
        _log.warning("MLflow logging failed (%s: %s); the run stands", type(exc).__name__, exc)


def _skip_publishing(record: dict[str, Any] | None, steps: _Steps) -> None:
    for name in ("bundle", "register", "promote"):
        if steps.stopped(name):
            break
        with steps.step(name) as note:
            note["status"], note["detail"] = "skipped", "no new run"
    entities = int(record.get("counts", {}).get("entities", 0)) if record else 0
    steps.summary.counts = {"entities": entities, "carried_forward": entities}


def _model_source(
    outcome: TrainingOutcome | None, production: _Production | None
) -> Callable[[], HybridModel]:
    """Return how to get the production model for scoring, loading it only when needed."""
    trained = outcome.model if outcome is not None else None
    bundle = production[1] if production else None

    def model_source() -> HybridModel:
        # the model just trained is bit-identical to its bundle; else read production's
        if trained is not None:
            return trained
        assert bundle is not None
        from glocal.models.persistence import load_hybrid

        return load_hybrid(bundle)

    return model_source


@dataclass(frozen=True)
class _DataCut:
    """The data a run works on: its version, its as-of cut and the end of its data."""

    version: DataVersion
    as_of: dt.date | None
    end: dt.date

    def fingerprints(self, workspace: Workspace, settings: Settings) -> pd.DataFrame:
        """Return the entity fingerprints of the version's transactions, cut at ``as_of``.

        With ``engine: spark`` Spark reads the transactions; one row per entity comes back.
        """
        if settings.engine == "spark":
            from glocal.pipeline.engine import fingerprints_on_spark

            clean_file = workspace.processed_dir(self.version.version) / CLEAN_FILE
            return fingerprints_on_spark(settings, clean_file, self.as_of)
        return entity_fingerprints(transactions_as_of(workspace, self.version, self.as_of))


def _train_and_publish(
    workspace: Workspace,
    settings: Settings,
    panel_result: PanelStep,
    cut: _DataCut,
    production: _Production | None,
    steps: _Steps,
    retrain_global: bool,
) -> TrainingOutcome | None:
    """Plan and run the train step, then publish the new run (or skip the three steps)."""
    summary = steps.summary
    record = production[2]["metrics"].get("pipeline") if production else None
    plan = plan_training(record, panel_result.key, settings, cut.end, retrain_global)
    summary.mode, summary.reason = plan.mode, plan.reason
    summary.production_run_id = production[0] if production else None
    run_id = new_run_id()
    outcome: TrainingOutcome | None = None
    if steps.stopped("train"):
        panel_result.wait_written()
        return None
    with steps.step("train") as note:
        if plan.mode == "skip":
            note["status"], note["detail"] = "skipped", plan.reason
        else:
            outcome = _train_step(
                workspace,
                settings,
                plan,
                panel_result.load(),
                (
                    panel_result.fingerprints
                    if panel_result.fingerprints is not None
                    else cut.fingerprints(workspace, settings)
                ),
                cut.end,
                production,
                run_id,
            )
            note["detail"] = f"{plan.mode}: {plan.reason}"
    panel_result.wait_written()  # on disk before anything is published or scored
    if outcome is None:
        _skip_publishing(record, steps)
        return None
    if steps.stopped("bundle"):
        return outcome
    context = {
        "production": production,
        "panel_key": panel_result.key,
        "data_end": cut.end,
        "data_version": cut.version.version,
        "drift_baseline": outcome.drift_baseline,
    }
    bundle = _record_and_publish(workspace, settings, plan, run_id, outcome, context, steps)
    if steps.runs("register"):
        _track(workspace, settings, summary, outcome, bundle)
    return outcome


def _data_end(version: DataVersion, as_of: dt.date | None) -> dt.date:
    """Return the day after the last transaction (of those before ``as_of``, if given)."""
    end = version.date_max.date() + dt.timedelta(days=1)
    return end if as_of is None else min(end, as_of)


def _check_replay_order(production: _Production | None, cut: _DataCut) -> None:
    """Refuse to replay a date older than the data the production run already saw."""
    if production is None or cut.as_of is None:
        return
    record = production[2]["metrics"].get("pipeline") or {}
    seen = record.get("data_end")
    if seen is not None and dt.date.fromisoformat(seen) > cut.end:
        raise ConfigError(
            f"--as-of {cut.as_of} goes back in time: the production run {production[0]} "
            f"already used data up to {seen}. Replay dates in order, in a fresh workspace "
            "(glocal backtest does), or give an --as-of on or after that date."
        )


def run_pipeline(
    workspace: Workspace,
    settings: Settings,
    *,
    data: Path | str | None = None,
    retrain_global: bool = False,
    as_of: dt.date | None = None,
    on_step: StepHook | None = None,
    stop_after: str | None = None,
) -> RunSummary:
    """Run every step of the pipeline in an initialised, locked workspace.

    Args:
        workspace: The workspace (initialised; the caller holds its lock).
        settings: Its settings.
        data: A transaction file to ingest, or its URL (``s3://bucket/file.parquet``);
            ``None`` uses the latest data version, or generated demo data in an empty
            workspace.
        retrain_global: Retrain the global model (and re-select everyone) even if not due.
        as_of: Replay the run as of midnight starting this day: only transactions before
            it are used, and every timestamp the run records (run id, bundle, registry)
            is that moment (:mod:`glocal.core.clock`). ``None``: now, on all the data.
        on_step: Called with each step's name before it runs (fault injection in tests).
        stop_after: Run the steps up to and including this one (one of :data:`STEPS`);
            the later ones are recorded as skipped. ``"register"`` trains and registers a
            run without promoting it: a scheduler then promotes it, predicts and monitors
            as tasks of their own (``examples/airflow/glocal_dag.py``).

    Returns:
        What ran, what was skipped, counts of entities and timings.

    Raises:
        GlocalError: Bad input or state; production is left unchanged.

    """
    if stop_after is not None and stop_after not in STEPS:
        raise ConfigError(f"stop after {stop_after!r}: not a step; use one of {', '.join(STEPS)}.")
    options = _Options(data, retrain_global, as_of, on_step, stop_after)
    with shared_spark_session():  # engine spark: one session for every step of the run
        if as_of is None:
            return _run(workspace, settings, options)
        with clock.frozen_at(clock.as_of_moment(as_of)):
            return _run(workspace, settings, options)


@dataclass(frozen=True)
class _Options:
    """What :func:`run_pipeline` was asked to do."""

    data: Path | str | None
    retrain_global: bool
    as_of: dt.date | None
    on_step: StepHook | None
    stop_after: str | None


def _run(workspace: Workspace, settings: Settings, options: _Options) -> RunSummary:
    summary = RunSummary()
    _cleanup(workspace, settings)
    with step_progress("glocal run", total=len(STEPS)) as progress:
        steps = _Steps(summary, progress, options.on_step, options.stop_after)
        storing: list[BackgroundCall] = []
        try:
            _run_steps(workspace, settings, options, steps, storing)
        finally:  # never return, or fail, while a file of this run is still being written
            for call in storing:
                call.join()
    return summary


def _run_steps(
    workspace: Workspace,
    settings: Settings,
    options: _Options,
    steps: _Steps,
    storing: list[BackgroundCall],
) -> None:
    """Run the steps; append the threads still writing files to ``storing``.

    Those are the new data version's files (while the features step works from memory)
    and the new panel's (while the train step works from memory).
    """
    summary, as_of = steps.summary, options.as_of
    # new data will be trained on: the model layer is imported meanwhile, on a thread
    imports = ModelImports()
    try:
        with steps.step("ingest") as note:
            on_new_data = imports.start if steps.runs("train") else None
            data_result = data_step(workspace, settings, options.data, on_new_data)
            note["status"] = "ran" if data_result.ran else "skipped"
            note["detail"] = data_result.detail
    finally:  # before this thread imports anything else (or an error ends the process)
        imports.wait()
    if data_result.ingested is not None and data_result.ingested.storing is not None:
        storing.append(data_result.ingested.storing)
    version = data_result.version
    summary.data_version = version.version
    cut = _DataCut(version, as_of, _data_end(version, as_of))
    production = _production(workspace, settings)
    _check_replay_order(production, cut)
    if settings.tracking.mlflow_uri is not None:
        from glocal.tracking import require_mlflow

        require_mlflow()  # before training, not after promoting
    if steps.stopped("features"):
        for call in storing:
            call.wait()  # a failure to store the version fails the run
        return
    with steps.step("features") as note:
        ingested = data_result.ingested
        del data_result  # the transactions go with the panel step's own copy
        panel_result = panel_step(workspace, settings, version, as_of, ingested)
        del ingested
        note["status"] = "ran" if panel_result.ran else "skipped"
        note["detail"] = panel_result.detail
        if as_of is not None:
            note["detail"] += f" (as of {as_of})"
    if panel_result.writing is not None:  # the train step goes on while it is written
        storing.append(panel_result.writing)
    outcome = _train_and_publish(
        workspace, settings, panel_result, cut, production, steps, options.retrain_global
    )
    if not steps.stopped("predict"):
        predictions = _predict_step(
            workspace,
            settings,
            summary.production_run_id,
            _model_source(outcome, production),
            steps,
        )
        summary.predictions = predictions and location_of(workspace, predictions)
    if not steps.stopped("prune"):
        _prune_step(workspace, settings, steps)
