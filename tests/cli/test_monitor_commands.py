from __future__ import annotations

import pytest

from glocal.cli.main import main
from tests.monitoring.conftest import Replay, replay, two_runs  # noqa: F401 - fixtures


def test_exit_code_is_1_when_an_alert_fires_and_0_when_none(
    replay: Replay,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = str(replay[0].root)
    monkeypatch.setenv("GLOCAL_MONITORING__PSI_ALERT", "1e-9")
    assert main(["monitor", "-w", root, "--as-of", "2011-10-10", "--no-record"]) == 1
    out = capsys.readouterr().out
    assert "ALERT feature_drift" in out and "Would demote" in out
    monkeypatch.setenv("GLOCAL_MONITORING__PSI_ALERT", "1e9")
    monkeypatch.setenv("GLOCAL_MONITORING__MAX_DATA_AGE_DAYS", "100000")
    monkeypatch.setenv("GLOCAL_MONITORING__SERVED_WORSE_TOLERANCE", "1e9")
    monkeypatch.setenv("GLOCAL_MONITORING__UNKNOWN_SHARE_ALERT", "1")
    assert main(["monitor", "-w", root, "--as-of", "2011-10-10"]) == 0
    out = capsys.readouterr().out
    assert "realized predictions" in out and "ALERT" not in out


def test_bad_input_exits_2_naming_the_option_or_key(
    replay: Replay,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = str(replay[0].root)
    assert main(["monitor", "-w", root, "--as-of", "10/10/2011"]) == 2
    assert "--as-of '10/10/2011' is not a date" in capsys.readouterr().err
    monkeypatch.setenv("GLOCAL_MONITORING__PSI_ALERT", "-1")
    assert main(["monitor", "-w", root]) == 2
    assert "monitoring.psi_alert" in capsys.readouterr().err


def test_run_as_of_a_bad_date_exits_2(
    replay: Replay,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "-w", str(replay[0].root), "--as-of", "yesterday"]) == 2
    assert "--as-of 'yesterday' is not a date" in capsys.readouterr().err
