from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Settings, Workspace
from glocal.data.synthetic import make_synthetic_panel
from glocal.evaluation import POLICIES, Evaluation, evaluate_split, write_evaluation
from glocal.evaluation.policies import global_predictions
from glocal.features import split_panel
from glocal.models import HybridModel

FAST = {"global_model": {"params": {"n_estimators": 200, "learning_rate": 0.1}}}


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    panel, _ = make_synthetic_panel(
        160, 60, 4, heterogeneity=1.5, noise=1.0, seed=3, heterogeneous_fraction=0.4
    )
    settings = Settings.model_validate(FAST)
    split = split_panel(panel, settings.split, horizon_days=7)
    dataset = {"path": "synthetic", "data_version": None, "entities": 160, "rows": len(panel)}
    return evaluate_split(split, settings, dataset)


def test_metrics_have_exactly_the_documented_keys(evaluation: Evaluation) -> None:
    metrics = evaluation.metrics
    assert set(metrics) == {"dataset", "split", "policies", "choices", "timings_s"}
    assert list(metrics["policies"]) == list(POLICIES)
    for values in metrics["policies"].values():
        assert set(values) == {"mse", "mae", "rows"}
    assert {"train", "validation", "test", "horizon_days"} <= set(metrics["split"])
    assert sum(metrics["choices"].values()) == len(evaluation.entities)


def test_policies_are_ordered_as_the_product_promises(evaluation: Evaluation) -> None:
    policies = evaluation.metrics["policies"]
    assert policies["hybrid"]["mse"] <= 1.005 * policies["global"]["mse"]
    assert policies["entity_oracle"]["mse"] <= policies["global"]["mse"]
    assert policies["entity_oracle"]["mse"] <= policies["local_only"]["mse"]


def test_entities_table_has_one_row_per_entity(evaluation: Evaluation) -> None:
    entities = evaluation.entities
    assert entities["entity_id"].is_unique
    for column in ("decision", "reason", "n_train", "n_val", "val_mse_global", "val_mse_local"):
        assert column in entities
    for policy in POLICIES:
        assert f"test_mse_{policy}" in entities
    assert set(entities["decision"]) <= {"global", "local", "blend"}


def test_written_files_and_self_contained_report(evaluation: Evaluation, tmp_path: Path) -> None:
    paths = write_evaluation(evaluation, tmp_path)
    assert json.loads(paths["metrics"].read_text())["policies"].keys() == set(POLICIES)
    assert len(pd.read_parquet(paths["entities"])) == len(evaluation.entities)
    for name in ("mse_distribution", "validation_scatter", "gain_vs_rows"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = paths["report"].read_text()
    assert report.count("data:image/png;base64,") == 3
    assert "src='http" not in report and 'src="http' not in report
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_evaluate_without_a_panel_exits_2(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "-w", str(workspace.root)]) == 2
    err = capsys.readouterr().err
    assert "glocal features" in err
    assert "Traceback" not in err
    assert not (workspace.evaluation_dir / "metrics.json").exists()


def test_evaluate_command_on_demo_data(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(workspace.root)
    workspace.settings_path.write_text(
        "global_model:\n  params: {n_estimators: 200, learning_rate: 0.1}\n"
    )
    assert main(["demo", "-w", root, "--customers", "120"]) == 0
    out = capsys.readouterr().out
    assert "hybrid" in out and "seed_recipe" in out
    metrics = json.loads((workspace.evaluation_dir / "metrics.json").read_text())
    assert metrics["dataset"]["entities"] > 100
    assert (workspace.evaluation_dir / "report.html").is_file()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_data_goals(real_data_path: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "retail")
    assert main(["init", root]) == 0
    assert main(["ingest", str(real_data_path), "-w", root]) == 0
    assert main(["features", "-w", root]) == 0
    assert main(["evaluate", "-w", root]) == 0
    policies = json.loads((Path(root) / "evaluation" / "metrics.json").read_text())["policies"]
    hybrid, base = policies["hybrid"], policies["global"]
    assert hybrid["mse"] < 0.97 * base["mse"]
    assert hybrid["mae"] < 0.97 * base["mae"]
    assert hybrid["mse"] <= policies["global_with_entity_id"]["mse"]
    assert 10 * hybrid["mse"] < policies["seed_recipe"]["mse"]


@pytest.mark.parametrize("entity_feature", [False, True])
def test_the_hybrids_global_model_is_the_matching_global_policy(entity_feature: bool) -> None:
    """evaluate_split reuses the hybrid's global predictions for one of the two policies."""
    panel, _ = make_synthetic_panel(60, 40, 3, heterogeneity=1.0, noise=1.0, seed=5)
    settings = Settings.model_validate(
        {"global_model": {**FAST["global_model"], "entity_feature": entity_feature}}
    )
    split = split_panel(panel, settings.split, horizon_days=7)
    model = HybridModel(
        global_model=settings.global_model,
        local_models=settings.local_models,
        selection=settings.selection,
        seed=settings.seed,
    ).fit(split.train, split.validation)
    assert model.global_uses_entity_ is entity_feature
    policy = global_predictions(
        split.train,
        split.validation,
        split.test,
        model.feature_columns_,
        model.categorical_columns_,
        settings.global_model,
        settings.seed,
        with_entity_id=entity_feature,
    )
    np.testing.assert_array_equal(model.predict(split.test)["global_prediction"], policy)
