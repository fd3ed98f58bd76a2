from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from glocal.cli.main import build_app, main

EXPECTED_COMMANDS = {"init", "config"}


def test_help_lists_every_command_with_a_description(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    app = build_app()
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert names >= EXPECTED_COMMANDS
    for name in names:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split(maxsplit=1)) == 2, f"{name} has no description"
        assert not line.endswith("..."), f"{name}'s one-line description is cut: shorten it"


def test_init_then_config_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "ws")]) == 0
    assert main(["config", "show", "--workspace", str(tmp_path / "ws")]) == 0
    assert "horizon_days: 30" in capsys.readouterr().out


def test_bad_setting_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["init", str(tmp_path)])
    (tmp_path / "config" / "settings.yaml").write_text("split:\n  test_days: -1\n")
    assert main(["config", "show", "-w", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "split.test_days" in err
    assert "Traceback" not in err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2


def test_console_script_runs_in_a_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "glocal", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("glocal ")


HEAVY = ("pandas", "lightgbm", "sklearn", "scipy", "sqlalchemy", "duckdb", "numba")


def _heavy_modules_after_importing(module: str) -> set[str]:
    code = f"import sys, {module}; print(*sorted(m for m in sys.argv[1:] if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code, *HEAVY], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_cli_starts_without_the_heavy_libraries() -> None:
    """`glocal --help` and light commands must not pay for pandas, LightGBM or SQLAlchemy."""
    assert _heavy_modules_after_importing("glocal.cli.main") == set()
    # `glocal registry list` needs pandas and SQLAlchemy, not the model stack
    assert _heavy_modules_after_importing("glocal.registry") == {"pandas", "sqlalchemy"}
