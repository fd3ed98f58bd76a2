"""Print the settings reference of the README as a Markdown table, from the pydantic models.

Usage: .venv/bin/python scripts/config_reference.py [--write]
``--write`` replaces the table between the config-reference markers of README.md;
tests/test_readme.py checks that the README holds exactly this table.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from glocal.config import Settings


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return ""
    text = json.dumps(value, default=str)
    return "empty" if text == "null" else f"`{text}`"


def _rows(model: BaseModel, prefix: str = "") -> list[str]:
    rows = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            rows += _rows(value, f"{prefix}{name}.")
            continue
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | {_default(value)} | {description} |")
    return rows


def config_reference() -> str:
    """Return the Markdown table of every setting, its default and its description."""
    defaults = Settings.model_construct()  # the raw defaults, before derived values
    header = ["| key | default | meaning |", "| --- | --- | --- |"]
    return "\n".join(header + _rows(defaults))


README = Path(__file__).resolve().parent.parent / "README.md"
_MARKERS = re.compile(
    r"(<!-- config-reference:start[^>]*-->\n)(.*?)(<!-- config-reference:end -->)", re.S
)


def readme_table(text: str) -> str:
    """Return the table currently between the README's markers."""
    match = _MARKERS.search(text)
    return match.group(2).strip() if match else ""


def write_readme() -> None:
    """Replace the README's table with the generated one."""
    text = README.read_text(encoding="utf-8")
    table = config_reference()
    README.write_text(_MARKERS.sub(lambda m: m.group(1) + table + "\n" + m.group(3), text))


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme()
    else:
        print(config_reference())
