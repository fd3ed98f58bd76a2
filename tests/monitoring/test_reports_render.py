"""Every HTML report opens in a real headless Chromium with every image decoded.

Needs Debian's ``chromium``; skipped where it is absent, except when
``GLOCAL_TEST_REQUIRE_BROWSER=1`` (CI sets it, and ``.ci/run`` installs the package).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.core import clock
from glocal.monitoring import run_monitor
from glocal.monitoring.backtest_report import write_backtest_report
from tests.monitoring.conftest import SECOND, Replay

pytestmark = pytest.mark.browser

_PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const decoded = images.filter((image) => image.complete && image.naturalWidth > 0);
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-decoded", String(decoded.length));
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("GLOCAL_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail("no chromium on PATH; install Debian's chromium package")
    pytest.skip("no chromium on PATH: install Debian's chromium package to render the reports")


def _render(report: Path, scratch: Path) -> tuple[int, int]:
    """Open ``report`` in headless Chromium; return (images, images decoded)."""
    page = scratch / f"probe-{report.name}"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    completed = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={scratch / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = re.search(r'data-images="(\d+)" data-decoded="(\d+)"', completed.stdout)
    assert found, f"the probe did not run; Chromium printed: {completed.stdout[:500]}"
    return int(found.group(1)), int(found.group(2))


def test_the_monitor_report_renders_with_every_plot(replay: Replay, tmp_path: Path) -> None:
    workspace = replay[0]
    with clock.frozen_at(clock.as_of_moment(SECOND)):
        result = run_monitor(workspace, workspace.settings())
    images, decoded = _render(result.directory / "report.html", tmp_path)
    assert images >= 3 and decoded == images


def test_the_backtest_report_renders_with_every_plot(tmp_path: Path) -> None:
    dates = pd.date_range("2011-06-06", periods=8, freq="7D")
    periods = pd.DataFrame(
        {
            "date": dates,
            "run_id": [f"r{i}" for i in range(8)],
            "entities_scored": 100,
            "entities_retrained": [100, 10, 12, 9, 100, 11, 8, 10],
            "global_retrained": [True, False, False, False, True, False, False, False],
            "realized_cutoff": [pd.NaT] * 5 + list(dates[:3]),
            "mse_served": [np.nan] * 5 + [10.0, 11.0, 9.0],
            "mse_global": [np.nan] * 5 + [11.0, 11.5, 9.5],
            "mae_served": [np.nan] * 5 + [2.0, 2.1, 1.9],
            "mae_global": [np.nan] * 5 + [2.1, 2.2, 2.0],
            "local_share": 0.1,
            "demoted": [0, 0, 0, 0, 0, 1, 0, 2],
            "alerts": "",
            "seconds": 1.0,
        }
    )
    report = tmp_path / "report.html"
    write_backtest_report(periods, "mse", report)
    images, decoded = _render(report, tmp_path)
    assert images == 2 and decoded == 2
