"""Registry layer: immutable run bundles and the database of runs, models and aliases.

A run writes one bundle (:func:`write_bundle`) - the saved hybrid model, its selection
table and a manifest of SHA-256 checksums - and records it in the :class:`Registry`
(SQLite at ``models/registry.db`` by default, PostgreSQL through ``registry.url``).
Aliases such as ``production`` point at runs; moving one is a single transaction, so
promotion and rollback are atomic. Nothing here reads or writes a pickle.
"""

from __future__ import annotations

from glocal.registry.aliases import PRUNED
from glocal.registry.bundles import (
    DRIFT_BASELINE_FILE,
    BundleMetadata,
    bundle_dir,
    cleanup_partial_bundles,
    discard_bundle,
    list_bundles,
    load_bundle,
    new_run_id,
    read_drift_baseline,
    verify_bundle,
    write_bundle,
)
from glocal.registry.placement import discard_bundle_at, locate_bundle, publish_bundle
from glocal.registry.records import (
    ENTITY_MODEL_COLUMNS,
    GlobalVersion,
    RunRecord,
    entity_models_frame,
)
from glocal.registry.registry import Registry

__all__ = [
    "DRIFT_BASELINE_FILE",
    "ENTITY_MODEL_COLUMNS",
    "PRUNED",
    "BundleMetadata",
    "GlobalVersion",
    "Registry",
    "RunRecord",
    "bundle_dir",
    "cleanup_partial_bundles",
    "discard_bundle",
    "discard_bundle_at",
    "entity_models_frame",
    "list_bundles",
    "load_bundle",
    "locate_bundle",
    "new_run_id",
    "publish_bundle",
    "read_drift_baseline",
    "verify_bundle",
    "write_bundle",
]
