"""A self-contained HTML report: metrics tables and the plots embedded as base64 PNGs."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from glocal.core.atomic import write_text_atomic

__all__ = ["REPORT_STYLE", "html_figure", "html_table", "write_report"]

REPORT_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 12px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.note{color:#666;font-size:0.9em}
tr.hybrid td{font-weight:bold}
"""

_CAPTIONS = {
    "policies": "Test loss of every policy relative to the best baseline (naive, btyd, global).",
    "windows": "Every policy's test loss divided by the global model's, window by window.",
    "loss_distribution": "Per-entity test loss by policy (ECDF, log axis).",
    "validation_scatter": "Validation loss per entity, pooled over the folds: local against "
    "the global stage, by decision.",
    "gain_vs_rows": "Test-loss gain of the hybrid over its global stage, per entity.",
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:,.2f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value:,}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def html_table(headers: list[str], rows: list[list[Any]], marked: str | None = None) -> str:
    """Return an HTML table (numbers right-aligned; the row whose first cell is ``marked`` bold)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        css = ' class="hybrid"' if marked is not None and row and row[0] == marked else ""
        body.append(f"<tr{css}>" + "".join(_cell(value) for value in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def html_figure(path: Path, caption: str) -> str:
    """Return a figure with the PNG at ``path`` embedded as base64 (the page is self-contained)."""
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
    objective = html.escape(str(metrics.get("objective", "mse")).upper())
    return (
        f"<p class='note'>data: {path} (version {version}), {dataset.get('entities'):,} "
        f"entities, {dataset.get('rows'):,} panel rows; horizon {horizon} days; objective "
        f"{objective}.</p>"
    )


def _relative(value: float, base: float) -> str:
    return f"{100 * (value / base - 1):+.2f}%" if base else "n/a"


def _policy_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    policies = metrics["policies"]
    objective = str(metrics.get("objective", "mse"))
    best = metrics.get("best_baseline", {}).get("loss") or policies["global"][objective]
    base = policies["global"]
    return [
        [
            name,
            values["mse"],
            values["mae"],
            _relative(values[objective], best),
            _relative(values["mse"], base["mse"]),
            _relative(values["mae"], base["mae"]),
            values["rows"],
        ]
        for name, values in policies.items()
    ]


def _hybrid_section(metrics: dict[str, Any]) -> list[str]:
    hybrid = metrics.get("hybrid") or {}
    stage = hybrid.get("global_stage") or {}
    guard = hybrid.get("population_guard") or {}
    parts = ["<h2>How the hybrid decided</h2>"]
    losses = stage.get("validation_loss", {})
    members = set(stage.get("members", []))
    parts.append(
        html_table(
            ["global component", "validation loss (folds)", "in the ensemble"],
            [
                [name, float(loss), "yes" if name in members else "no"]
                for name, loss in sorted(losses.items(), key=lambda item: item[1])
            ],
        )
    )
    entity = stage.get("entity_feature", {})
    parts.append(
        f"<p class='note'>entity id in the global learners: {entity.get('entity_feature')} "
        f"({html.escape(str(entity.get('reason')))}).</p>"
    )
    levels = guard.get("levels", [])
    parts.append(
        f"<p>Population guard: <b>{html.escape(str(guard.get('outcome')))}</b>, test level "
        f"{guard.get('level')}.</p>"
    )
    if levels:
        parts.append(
            html_table(
                ["level", "entities switched per held-out fold", "loss change on held-out", "ok"],
                [
                    [
                        f"{level['level']:.4g}",
                        ", ".join(str(n) for n in level["switched_per_fold"]),
                        f"{100 * level['relative_change']:+.2f}%",
                        "yes" if level["accepted"] else "no",
                    ]
                    for level in levels
                ],
            )
        )
    return parts


def write_report(metrics: dict[str, Any], plots: dict[str, Path], target: Path) -> None:
    """Write ``report.html`` from ``metrics.json``'s content and the plot files."""
    objective = str(metrics.get("objective", "mse")).upper()
    split_rows = [
        [block, str(info.get("start")), str(info.get("end")), info.get("rows", "")]
        for block, info in metrics["split"].items()
        if isinstance(info, dict)
    ] + [
        [f"fold {fold['fold'] + 1}", fold["start"], fold["end"], ""]
        for fold in metrics["split"].get("folds", [])
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>glocal evaluation</title>",
        f"<style>{REPORT_STYLE}</style></head><body>",
        "<h1>glocal evaluation</h1>",
        _dataset_line(metrics),
        "<h2>Test block, by policy</h2>",
        html_table(
            [
                "policy",
                "MSE",
                "MAE",
                f"{objective} vs best baseline",
                "MSE vs global",
                "MAE vs global",
                "rows",
            ],
            _policy_rows(metrics),
            marked="hybrid",
        ),
        "<p class='note'>entity_oracle picks per entity the better of the global stage and the "
        "local candidate on the test block itself: an unreachable reference, not a policy you "
        "can deploy.</p>",
    ]
    notes = metrics.get("notes") or {}
    if notes:
        parts.append(html_table(["policy", "note"], [[k, v] for k, v in notes.items()]))
    if "policies" in plots:
        parts.append(html_figure(plots["policies"], _CAPTIONS["policies"]))
    windows = metrics.get("windows") or []
    if windows:
        parts.append("<h2>Earlier test windows</h2>")
        names = list(windows[0]["policies"])
        key = objective.lower()
        parts.append(
            html_table(
                ["test window", *names],
                [
                    [f"{w['test']['start']} to {w['test']['end']}"]
                    + [float(w["policies"][n][key]) if n in w["policies"] else "" for n in names]
                    for w in windows
                ],
            )
        )
    parts += _hybrid_section(metrics)
    parts += [
        "<h2>Per-entity choices</h2>",
        html_table(["decision", "entities"], [[k, v] for k, v in metrics["choices"].items()]),
        "<h2>Split</h2>",
        html_table(["block", "first cutoff", "last cutoff", "rows"], split_rows),
    ]
    parts += [
        html_figure(path, _CAPTIONS.get(name, name))
        for name, path in plots.items()
        if name not in ("policies",)
    ]
    parts.append("<h2>Timings (s)</h2>")
    parts.append(
        html_table(["step", "seconds"], [[k, float(v)] for k, v in metrics["timings_s"].items()])
    )
    parts.append("</body></html>")
    write_text_atomic(target, "\n".join(parts))
