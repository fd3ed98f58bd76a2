"""The README's settings reference and CLI table stay in sync with the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from glocal.cli.main import build_app

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "scripts" / "config_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_config_reference_matches_the_settings() -> None:
    script = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.readme_table(readme) == script.config_reference().strip(), (
        "README.md settings table is stale: run scripts/config_reference.py --write"
    )


def test_readme_names_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    app = build_app()
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    for name in names:
        assert f"`glocal {name}" in readme, f"README's CLI reference lacks `glocal {name}`"
