"""Allow ``python -m glocal``."""

from __future__ import annotations

from glocal.cli.main import run

run()
