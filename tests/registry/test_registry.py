from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from glocal.config import Settings, Workspace
from glocal.core.errors import (
    RegistryError,
    RegistryLookupError,
    RegistryUnavailableError,
    SchemaVersionError,
)
from glocal.models import HybridModel
from glocal.registry import (
    ENTITY_MODEL_COLUMNS,
    BundleMetadata,
    Registry,
    write_bundle,
)
from tests.registry.conftest import T0, entity_rows, record_run, run_record

Fitted = tuple[HybridModel, pd.DataFrame]


def test_record_and_read_back(registry: Registry, fitted_model: Fitted) -> None:
    model = fitted_model[0]
    record_run(registry, model, "r1", 0)
    record_run(registry, model, "r2", 7)  # the same global version, carried forward
    runs = registry.list_runs()
    assert list(runs["run_id"]) == ["r2", "r1"]
    assert runs.loc[0, "summary"]["entities"] == len(model.decisions_)
    record = registry.run("r1")
    assert record.created_at == T0
    assert record.metrics == {"mse": 0.0}
    rows = registry.entity_models("r1")
    assert list(rows.columns) == ["run_id", *ENTITY_MODEL_COLUMNS]
    expected = model.decisions_.sort_values("entity_id").reset_index(drop=True)
    assert list(rows["entity_id"]) == list(expected["entity_id"].astype(str))
    pd.testing.assert_series_equal(rows["val_mse_global"], expected["val_mse_global"])
    assert (rows["trained_at"] == pd.Timestamp(T0)).all()
    assert registry.resolve_bundle("r1") == registry._workspace.root / "models/bundles/r1"


def test_record_run_is_one_transaction(registry: Registry, fitted_model: Fitted) -> None:
    model = fitted_model[0]
    record_run(registry, model, "r1", 0)
    with pytest.raises(RegistryError, match="recorded already"):
        registry.record_run(run_record("r1", 0), None, entity_rows(model, 0))
    broken = entity_rows(model, 1)
    broken.loc[1, "entity_id"] = broken.loc[0, "entity_id"]
    with pytest.raises(RegistryError, match="more than once"):
        registry.record_run(run_record("r2", 1), None, broken)
    assert list(registry.list_runs()["run_id"]) == ["r1"]


def test_promote_and_rollback_walk_back(registry: Registry, fitted_model: Fitted) -> None:
    for index, run_id in enumerate(["a", "b", "c"]):
        record_run(registry, fitted_model[0], run_id, index)
    assert registry.alias() is None
    assert registry.promote("a") is None
    assert registry.promote("b") == "a"
    assert registry.promote("c") == "b"
    assert registry.rollback() == "b"
    assert registry.alias("production") == "b"
    assert registry.rollback() == "a"
    with pytest.raises(RegistryError, match="no earlier run"):
        registry.rollback()
    assert registry.alias() == "a"
    registry.promote("c")
    assert registry.rollback() == "a"
    runs = registry.list_runs()
    assert dict(zip(runs["run_id"], runs["aliases"], strict=True))["a"] == "production"


def test_unknown_run_lists_recent_runs(registry: Registry, fitted_model: Fitted) -> None:
    record_run(registry, fitted_model[0], "r1", 0)
    with pytest.raises(RegistryLookupError, match=r"'nope' is not recorded.*recent runs: r1"):
        registry.promote("nope")
    with pytest.raises(RegistryLookupError, match="nope"):
        registry.entity_models("nope")
    assert registry.alias() is None
    with pytest.raises(RegistryLookupError, match="nothing to roll back"):
        registry.rollback()


def test_model_card_has_current_decision_and_history(
    registry: Registry, fitted_model: Fitted
) -> None:
    model = fitted_model[0]
    record_run(registry, model, "r1", 0)
    record_run(registry, model, "r2", 7)
    registry.promote("r1")
    entity = str(model.decisions_["entity_id"].iloc[0])
    card = registry.model_card(entity)
    assert card["production_run_id"] == "r1"
    assert card["current"]["run_id"] == "r1"
    assert card["current"]["decision"] == model.decisions_["decision"].iloc[0]
    assert [h["run_id"] for h in card["history"]] == ["r1", "r2"]
    assert card["latest"]["trained_at"] == (T0 + dt.timedelta(days=7)).isoformat()
    json.dumps(card)  # ready for an API answer
    with pytest.raises(RegistryLookupError, match="'ghost' is in no recorded run"):
        registry.model_card("ghost")


def test_export_json_per_customer(
    registry: Registry, fitted_model: Fitted, workspace: Workspace
) -> None:
    with pytest.raises(RegistryLookupError, match="no runs"):
        registry.export_json()
    model = fitted_model[0]
    record_run(registry, model, "r1", 0)
    registry.promote("r1")
    path = registry.export_json()
    assert path == workspace.models_dir / "registry.json"
    payload = json.loads(path.read_text())
    assert payload["run_id"] == "r1" and payload["alias"] == "production"
    assert payload["entities"] == len(model.decisions_)
    first = payload["models"][0]
    row = model.decisions_.set_index("entity_id").loc[first["customer_id"]]
    assert first["last_trained"] == T0.isoformat()
    assert first["performance"]["decision"] == row["decision"]
    assert first["performance"]["val_mse_global"] == pytest.approx(row["val_mse_global"])


def test_record_bundle_from_disk(
    registry: Registry, fitted_model: Fitted, workspace: Workspace
) -> None:
    model = fitted_model[0]
    path = write_bundle(workspace, "b1", model, BundleMetadata("v9", Settings()))
    record = registry.record_bundle(path)
    assert record.bundle_path == "models/bundles/b1"
    assert registry.run("b1").global_version_id == record.global_version_id
    assert len(registry.entity_models("b1")) == len(model.decisions_)
    assert registry.resolve_bundle("b1") == path


def test_newer_schema_is_refused_naming_both_versions(
    registry_url: str | None, workspace: Workspace
) -> None:
    with Registry.open(registry_url, workspace) as registry:
        engine = registry._engine
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE schema_info SET version = 99"))
    with pytest.raises(SchemaVersionError, match=r"schema version 99.*schema version 2"):
        Registry.open(registry_url, workspace)


def test_a_version_1_registry_is_upgraded_in_place_keeping_its_runs(
    registry_url: str | None, workspace: Workspace, fitted_model: Fitted
) -> None:
    with Registry.open(registry_url, workspace) as registry:
        record_run(registry, fitted_model[0], "old", 0)
        with registry._engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE demotions"))
            connection.execute(sa.text("UPDATE schema_info SET version = 1"))
    with Registry.open(registry_url, workspace) as registry:
        assert registry.active_demotions(T0).empty  # the table is there
        assert list(registry.list_runs()["run_id"]) == ["old"]
        with registry._engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version FROM schema_info")).scalar()
    assert version == 2


def test_unreachable_database_writes_nothing(workspace: Workspace) -> None:
    before = sorted(workspace.root.rglob("*"))
    with pytest.raises(RegistryUnavailableError, match="cannot reach the registry") as caught:
        Registry.open("postgresql+psycopg://nobody:secret@127.0.0.1:1/x", workspace)
    assert "secret" not in str(caught.value)
    assert sorted(workspace.root.rglob("*")) == before


def test_malformed_url_is_a_clear_error(workspace: Workspace) -> None:
    with pytest.raises(RegistryError, match="not a SQLAlchemy URL"):
        Registry.open("not a url", workspace)


def test_default_is_sqlite_in_the_workspace(workspace: Workspace) -> None:
    with Registry.open(None, workspace) as registry:
        assert registry.url.startswith("sqlite")
    assert (workspace.models_dir / "registry.db").is_file()


def test_no_pickle_anywhere() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "glocal"
    for module in [*source.joinpath("registry").glob("*.py"), source / "models/persistence.py"]:
        assert "pickle" not in module.read_text().replace("no pickle", "").replace(
            "Nothing here reads or writes a pickle", ""
        ).replace("without pickle", "").replace("is pickled", ""), module


def test_public_names_are_exactly_the_intended_ones() -> None:
    import glocal.registry as registry_package

    assert set(registry_package.__all__) == {
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
    }


def test_new_run_ids_sort_by_time_and_name_valid_bundles() -> None:
    from glocal.registry import new_run_id

    first = new_run_id(T0)
    second = new_run_id(T0 + dt.timedelta(seconds=1))
    assert first.startswith("20240101T000000Z-") and first < second
