"""The daily pipeline end to end with its registry on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glocal.cli.main import main
from glocal.config import Workspace
from glocal.registry import Registry
from tests.pipeline.conftest import append_orders, write_demo


@pytest.mark.postgres
def test_daily_runs_predict_and_rollback_on_postgresql(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GLOCAL_REGISTRY__URL", postgres_url)
    root = tmp_path / "ws"
    day1 = write_demo(tmp_path / "day1.parquet")
    assert main(["run", "--data", str(day1), "-w", str(root)]) == 0
    workspace = Workspace(root)
    with Registry.open(postgres_url, workspace) as registry:
        first = registry.alias("production")
        assert first is not None
        rows = registry.entity_models(first)
    changed = sorted(rows.loc[rows["n_train"] >= 8, "entity_id"])[:3]
    day2 = append_orders(day1, tmp_path / "day2.parquet", [int(c) for c in changed])
    assert main(["run", "--data", str(day2), "-w", str(root)]) == 0
    assert not (workspace.models_dir / "registry.db").exists()  # nothing went to SQLite

    with Registry.open(postgres_url, workspace) as registry:
        second = registry.alias("production")
        assert second is not None and second != first
        assert list(registry.list_runs()["run_id"]) == [second, first]
        retrained = registry.entity_models(second).query("not carried_forward")
    assert set(retrained["entity_id"]) == set(changed)

    capsys.readouterr()
    assert main(["registry", "show", changed[0], "-w", str(root)]) == 0
    card = capsys.readouterr().out
    assert first in card and second in card
    assert main(["predict", "-w", str(root), "--date", "2011-12-10"]) == 0
    predictions = pd.read_parquet(root / "predictions" / "batch" / "2011-12-10.parquet")
    assert set(predictions["run_id"]) == {second}
    assert main(["registry", "rollback", "-w", str(root)]) == 0
    with Registry.open(postgres_url, workspace) as registry:
        assert registry.alias("production") == first
