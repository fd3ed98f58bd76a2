"""What the registry records: runs, global model versions and per-entity model rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from glocal.config import Workspace
from glocal.core.errors import RegistryError
from glocal.core.storage import is_url
from glocal.models import DECISION_COLUMNS
from glocal.registry.manifest import code_version_string

__all__ = [
    "ENTITY_MODEL_COLUMNS",
    "GlobalVersion",
    "RunRecord",
    "entity_models_frame",
    "parse_time",
]

ENTITY_MODEL_COLUMNS = (
    *DECISION_COLUMNS[: DECISION_COLUMNS.index("p_value")],
    "trained_at",
    "global_version_id",
    "carried_forward",
)
"""Columns of the frame :meth:`Registry.record_run` takes, one row per entity."""


def parse_time(value: str | dt.datetime) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _relative_path(path: str | Path, workspace: Workspace | None) -> str:
    if is_url(path):
        return str(path)  # a bundle in the object store
    resolved = Path(path)
    if workspace is not None:
        try:
            return resolved.resolve().relative_to(workspace.root.resolve()).as_posix()
        except ValueError:
            pass
    return resolved.as_posix()


@dataclass(frozen=True)
class RunRecord:
    """One run of glocal as the registry records it.

    Attributes:
        run_id: The run's id (also its bundle directory name).
        created_at: When the run wrote its bundle (UTC).
        data_version: Data version it was trained on.
        config_hash: SHA-256 of the effective settings.
        code_version: ``<glocal version>+g<commit>`` (or just the version without git).
        bundle_path: Bundle directory, relative to the workspace root when inside it.
        metrics: JSON metrics of the run.
        global_version_id: Global model the run serves.
        parent_run_id: Run it retrained from, if any.
        summary: JSON summary (entities and decision counts are added when recorded).
        status: ``completed`` unless the pipeline records otherwise.

    """

    run_id: str
    created_at: dt.datetime
    data_version: str
    config_hash: str
    code_version: str
    bundle_path: str
    metrics: dict[str, Any]
    global_version_id: str | None
    parent_run_id: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"

    @classmethod
    def from_manifest(
        cls,
        manifest: Mapping[str, Any],
        bundle_path: str | Path,
        workspace: Workspace | None = None,
        *,
        summary: Mapping[str, Any] | None = None,
        status: str = "completed",
    ) -> RunRecord:
        """Build the record of the run whose bundle has ``manifest``."""
        lineage = manifest["lineage"]
        return cls(
            run_id=str(manifest["run_id"]),
            created_at=parse_time(manifest["created_at"]),
            data_version=str(manifest["data_version"]),
            config_hash=str(manifest["config_hash"]),
            code_version=code_version_string(manifest["code_version"]),
            bundle_path=_relative_path(bundle_path, workspace),
            metrics=dict(manifest.get("metrics") or {}),
            global_version_id=lineage.get("global_version_id"),
            parent_run_id=lineage.get("parent_run_id"),
            summary=dict(summary or {}),
            status=status,
        )


@dataclass(frozen=True)
class GlobalVersion:
    """One trained global model, shared by every run that carries it forward.

    Attributes:
        version_id: Its id (by default a content id of the LightGBM text file).
        run_id: The run that trained it.
        trained_at: When it was trained (UTC).
        data_version: Data version it was trained on.
        best_iteration: Trees of the largest member learner of the global stage.
        uses_entity_feature: Whether it got the entity id as a categorical feature.

    """

    version_id: str
    run_id: str
    trained_at: dt.datetime
    data_version: str
    best_iteration: int | None
    uses_entity_feature: bool

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> GlobalVersion:
        """Build the global model version recorded in a bundle's manifest."""
        info = manifest["global_model"]
        best = info.get("best_iteration")
        return cls(
            version_id=str(info["version_id"]),
            run_id=str(manifest["run_id"]),
            trained_at=parse_time(info["trained_at"]),
            data_version=str(manifest["data_version"]),
            best_iteration=None if best is None else int(best),
            uses_entity_feature=bool(info["uses_entity_feature"]),
        )


def entity_models_frame(
    decisions: pd.DataFrame,
    *,
    trained_at: dt.datetime,
    global_version_id: str | None,
    carried_forward: bool | npt.ArrayLike = False,
) -> pd.DataFrame:
    """Turn a ``decisions_`` table into the per-entity rows of :meth:`Registry.record_run`.

    Args:
        decisions: One decision record per entity (``HybridModel.decisions_``).
        trained_at: When these entities' models were trained.
        global_version_id: Global model the decisions were made against.
        carried_forward: Whether each entity's model was carried over from the parent run
            unchanged (one flag for all, or one per row).

    Returns:
        A frame with columns :data:`ENTITY_MODEL_COLUMNS`.

    """
    missing = [c for c in ENTITY_MODEL_COLUMNS[:9] if c not in decisions.columns]
    if missing:
        raise RegistryError(
            f"the decisions table lacks column(s) {missing}; pass HybridModel.decisions_."
        )
    frame = decisions.loc[:, list(ENTITY_MODEL_COLUMNS[:9])].reset_index(drop=True)
    frame["trained_at"] = pd.Timestamp(parse_time(trained_at))
    frame["global_version_id"] = global_version_id
    flags = np.broadcast_to(np.asarray(carried_forward, dtype=bool), (len(frame),))
    frame["carried_forward"] = flags.copy()
    return frame
