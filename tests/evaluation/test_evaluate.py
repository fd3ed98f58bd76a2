from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Settings, Workspace
from glocal.data import generate_demo_transactions
from glocal.data.synthetic import make_synthetic_panel
from glocal.evaluation import (
    POLICIES,
    Evaluation,
    evaluate_split,
    evaluate_windows,
    write_evaluation,
)
from glocal.evaluation.policies import learner_predictions
from glocal.features import split_panel

FAST = {"global_model": {"params": {"n_estimators": 200, "learning_rate": 0.1}}}
SKIPPED = ("naive", "btyd")  # a synthetic panel has no baselines and no transactions


def _panel() -> pd.DataFrame:
    panel, _ = make_synthetic_panel(
        160, 60, 4, heterogeneity=1.5, noise=1.0, seed=3, heterogeneous_fraction=0.4
    )
    return panel


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    panel = _panel()
    settings = Settings.model_validate(FAST)
    split = split_panel(panel, settings.split, horizon_days=7)
    dataset = {"path": "synthetic", "data_version": None, "entities": 160, "rows": len(panel)}
    return evaluate_split(split, settings, dataset)


def test_metrics_have_exactly_the_documented_keys(evaluation: Evaluation) -> None:
    metrics = evaluation.metrics
    assert set(metrics) == {
        "dataset",
        "objective",
        "split",
        "policies",
        "notes",
        "best_baseline",
        "choices",
        "hybrid",
        "timings_s",
    }
    assert list(metrics["policies"]) == [p for p in POLICIES if p not in SKIPPED]
    for values in metrics["policies"].values():
        assert set(values) == {"mse", "mae", "rows"}
    assert {"history", "test", "folds", "horizon_days"} <= set(metrics["split"])
    assert sum(metrics["choices"].values()) == len(evaluation.entities)
    assert metrics["notes"]["naive"].startswith("skipped: the panel has no baseline_naive")
    assert metrics["notes"]["btyd"].startswith("skipped: the panel was not built from trans")
    assert {"global_stage", "population_guard", "folds"} <= set(metrics["hybrid"])


def test_the_hybrid_never_loses_to_its_own_global_stage(evaluation: Evaluation) -> None:
    policies = evaluation.metrics["policies"]
    assert policies["hybrid"]["mse"] <= 1.005 * policies["global_stage"]["mse"]
    assert policies["hybrid"]["mse"] < policies["global"]["mse"]
    best = evaluation.metrics["best_baseline"]
    assert best["policy"] in ("global", "global_with_entity_id")
    assert best["hybrid_ratio"] == pytest.approx(
        policies["hybrid"]["mse"] / policies[best["policy"]]["mse"]
    )


def test_predictions_file_is_what_the_metrics_were_computed_from(evaluation: Evaluation) -> None:
    frame = evaluation.predictions
    assert list(frame.columns[:3]) == ["entity_id", "cutoff", "target"]
    assert len(frame) == evaluation.metrics["policies"]["hybrid"]["rows"]
    for name, values in evaluation.metrics["policies"].items():
        error = frame[name] - frame["target"]
        assert float(np.mean(error**2)) == pytest.approx(values["mse"])
        assert float(np.mean(np.abs(error))) == pytest.approx(values["mae"])


def test_entities_table_has_one_row_per_entity(evaluation: Evaluation) -> None:
    entities = evaluation.entities
    assert entities["entity_id"].is_unique
    for column in ("decision", "reason", "n_train", "n_val", "val_mse_global", "val_mse_local"):
        assert column in entities
    for policy in evaluation.metrics["policies"]:
        assert f"test_mse_{policy}" in entities
    assert set(entities["decision"]) <= {"global", "local", "blend"}


def test_written_files_and_self_contained_report(evaluation: Evaluation, tmp_path: Path) -> None:
    paths = write_evaluation(evaluation, tmp_path)
    written = json.loads(paths["metrics"].read_text())
    assert written["policies"].keys() == evaluation.metrics["policies"].keys()
    assert len(pd.read_parquet(paths["entities"])) == len(evaluation.entities)
    predictions = pd.read_parquet(paths["predictions"])
    pd.testing.assert_frame_equal(predictions, evaluation.predictions, check_dtype=False)
    plots = ("policies", "loss_distribution", "validation_scatter", "gain_vs_rows")
    for name in plots:
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "windows" not in paths  # one window: no window plot
    report = paths["report"].read_text()
    assert report.count("data:image/png;base64,") == len(plots)
    assert "src='http" not in report and 'src="http' not in report
    assert "Population guard" in report
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_windows_step_back_one_test_block_each() -> None:
    panel = _panel()
    settings = Settings.model_validate(FAST)
    windows = evaluate_windows(panel, settings, range(0, 2))
    assert len(windows) == 2
    first, second = (pd.Timestamp(w["test"]["start"]) for w in windows)
    assert (first - second).days == settings.split.test_days
    for window in windows:
        assert "seed_recipe" not in window["policies"]
        assert set(window["policies"]["hybrid"]) == {"mse", "mae"}


def test_global_policy_is_the_plain_learner() -> None:
    """The ``global`` policy is the hybrid's plain learner: same settings, fold and refit."""
    panel = _panel()
    settings = Settings.model_validate(
        {
            "global_model": {
                **FAST["global_model"],
                "offsets": ["none"],
                "ensemble": "best",
                "ensemble_baselines": False,
                "entity_feature": False,
            }
        }
    )
    split = split_panel(panel, settings.split, horizon_days=7)
    from glocal.evaluation.evaluate import _fit_hybrid

    model = _fit_hybrid(split, settings)
    policy = learner_predictions(
        split.history,
        split.test,
        split.folds[0],
        model.feature_columns_,
        model.categorical_columns_,
        settings.global_model,
        settings.seed,
        settings.objective,
    )
    np.testing.assert_array_equal(model.predict(split.test)["global_prediction"], policy)


def test_evaluate_without_a_panel_exits_2(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "-w", str(workspace.root)]) == 2
    err = capsys.readouterr().err
    assert "glocal features" in err or "glocal ingest" in err
    assert "Traceback" not in err
    assert not (workspace.evaluation_dir / "metrics.json").exists()


def test_evaluate_builds_a_missing_panel_first(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = str(workspace.root)
    workspace.settings_path.write_text(
        "global_model:\n  params: {n_estimators: 100, learning_rate: 0.1}\n"
    )
    data = tmp_path / "shop.parquet"
    generate_demo_transactions(n_customers=80, seed=3).to_parquet(data)
    assert main(["ingest", str(data), "-w", root]) == 0
    capsys.readouterr()
    assert main(["evaluate", "-w", root, "--no-seed-recipe"]) == 0
    out = capsys.readouterr().out
    assert "building it first" in out
    assert (workspace.evaluation_dir / "metrics.json").is_file()


def test_evaluate_command_on_demo_data(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(workspace.root)
    workspace.settings_path.write_text(
        "global_model:\n  params: {n_estimators: 200, learning_rate: 0.1}\n"
    )
    assert main(["demo", "-w", root, "--customers", "120"]) == 0
    out = capsys.readouterr().out
    assert "hybrid" in out and "seed_recipe" in out and "naive" in out
    metrics = json.loads((workspace.evaluation_dir / "metrics.json").read_text())
    assert metrics["dataset"]["entities"] > 100
    assert "naive" in metrics["policies"]
    assert (workspace.evaluation_dir / "report.html").is_file()
    assert (workspace.evaluation_dir / "predictions.parquet").is_file()


def test_bad_windows_value_exits_2(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "-w", str(workspace.root), "--windows", "0"]) == 2
    assert "--windows must be at least 1" in capsys.readouterr().err
