"""A self-contained HTML report: metrics tables and the plots embedded as base64 PNGs."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from glocal.core.atomic import write_text_atomic

__all__ = ["write_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 12px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.note{color:#666;font-size:0.9em}
"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append(f'<td class="num">{value:,.1f}</td>')
            elif isinstance(value, int):
                cells.append(f'<td class="num">{value:,}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _image(path: Path, caption: str) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{encoded}'>"
        f"<figcaption class='note'>{html.escape(caption)}</figcaption></figure>"
    )


def _dataset_line(metrics: dict[str, Any]) -> str:
    dataset = metrics["dataset"]
    path = html.escape(str(dataset.get("path")))
    version = html.escape(str(dataset.get("data_version")))
    horizon = metrics["split"].get("horizon_days")
    return (
        f"<p class='note'>data: {path} (version {version}), {dataset.get('entities'):,} "
        f"entities, {dataset.get('rows'):,} panel rows; horizon {horizon} days.</p>"
    )


def write_report(metrics: dict[str, Any], plots: dict[str, Path], target: Path) -> None:
    """Write ``report.html`` from ``metrics.json``'s content and the plot files."""
    policies = metrics["policies"]
    base = policies["global"]
    policy_rows = [
        [
            name,
            values["mse"],
            values["mae"],
            f"{100 * (values['mse'] / base['mse'] - 1):+.2f}%" if base["mse"] else "n/a",
            f"{100 * (values['mae'] / base['mae'] - 1):+.2f}%" if base["mae"] else "n/a",
            values["rows"],
        ]
        for name, values in policies.items()
    ]
    split_rows = [
        [
            block,
            str(info.get("start")),
            str(info.get("end")),
            info.get("rows", ""),
            info.get("entities", ""),
        ]
        for block, info in metrics["split"].items()
        if isinstance(info, dict)
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>glocal evaluation</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>glocal evaluation</h1>",
        _dataset_line(metrics),
        "<h2>Test block, by policy</h2>",
        _table(["policy", "MSE", "MAE", "MSE vs global", "MAE vs global", "rows"], policy_rows),
        "<p class='note'>entity_oracle picks per entity the better of global and local on the test "
        "block itself: an unreachable reference, not a policy you can deploy.</p>",
        "<h2>Per-entity choices</h2>",
        _table(["decision", "entities"], [[k, v] for k, v in metrics["choices"].items()]),
        "<h2>Split</h2>",
        _table(["block", "first cutoff", "last cutoff", "rows", "entities"], split_rows),
    ]
    captions = {
        "mse_distribution": "Per-entity test MSE by policy (ECDF, log axis).",
        "validation_scatter": "Validation MSE per entity: local against global, by decision.",
        "gain_vs_rows": "Hybrid's test-MSE gain over global against training rows.",
    }
    parts += [_image(path, captions.get(name, name)) for name, path in plots.items()]
    parts.append("<h2>Timings (s)</h2>")
    parts.append(
        _table(["step", "seconds"], [[k, float(v)] for k, v in metrics["timings_s"].items()])
    )
    parts.append("</body></html>")
    write_text_atomic(target, "\n".join(parts))
