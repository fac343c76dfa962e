"""Reports of ``codeward simulate`` runs: a text table and a self-contained HTML page with
SVG bar charts comparing model versions (no plotting library needed)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

METRICS = [
    ("acceptance_rate", "acceptance rate", "{:.1%}"),
    ("accepted_chars_per_suggestion", "accepted chars / suggestion", "{:.1f}"),
    ("kept_chars_per_suggestion", "kept chars / suggestion", "{:.1f}"),
    ("insecure_rate", "insecure-suggestion rate", "{:.1%}"),
    ("latency_p50_ms", "latency p50 (ms)", "{:.0f}"),
    ("latency_p95_ms", "latency p95 (ms)", "{:.0f}"),
]
COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]


def load(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text("utf-8")) for p in paths]


def table(reports: list[dict[str, Any]]) -> str:
    head = f"{'metric':<30}" + "".join(f"{r['label'][:18]:>20}" for r in reports)
    lines = [head, "-" * len(head)]
    for key, name, fmt in [("shown", "suggestions shown", "{:d}"),
                           ("accepted", "accepted (full or partial)", "{:d}"),
                           ("kept_chars", "kept chars (total)", "{:d}"), *METRICS]:
        lines.append(f"{name:<30}" + "".join(f"{fmt.format(r.get(key, 0)):>20}"
                                              for r in reports))
    if len(reports) >= 2:
        a, b = reports[0], reports[-1]
        for key, name in (("acceptance_rate", "acceptance rate"), ("kept_chars", "kept chars")):
            if a.get(key):
                lines.append(f"{name} change, first -> last: {(b[key] / a[key] - 1):+.1%}")
    return "\n".join(lines)


def _chart(reports: list[dict[str, Any]], key: str, name: str, fmt: str) -> str:
    width, height, pad = 320, 180, 30
    values = [float(r.get(key, 0) or 0) for r in reports]
    top = max(values + [1e-9]) * 1.15
    bar = (width - 2 * pad) / max(len(values), 1)
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" '
             f'aria-label="{html.escape(name)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">'
             f'{html.escape(name)}</text>']
    for i, (value, report) in enumerate(zip(values, reports, strict=True)):
        h = (height - pad) * value / top
        x = pad + i * bar + bar * 0.1
        y = height - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar * 0.8:.1f}" height="{h:.1f}" '
                     f'fill="{COLORS[i % len(COLORS)]}"><title>{html.escape(report["label"])}'
                     f'</title></rect>')
        parts.append(f'<text x="{x + bar * 0.4:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                     f'font-size="11">{fmt.format(value)}</text>')
        parts.append(f'<text x="{x + bar * 0.4:.1f}" y="{height + 14}" text-anchor="middle" '
                     f'font-size="10">{html.escape(report["label"][:16])}</text>')
    parts.append(f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" '
                 'stroke="#333"/></svg>')
    return "".join(parts)


def write_html(reports: list[dict[str, Any]], out: Path) -> Path:
    charts = "".join(f'<div class="c">{_chart(reports, k, n, f)}</div>' for k, n, f in METRICS)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>codeward simulate: model versions compared</title>
<style>body{{font-family:sans-serif;margin:2em}} .c{{display:inline-block;margin:8px}}
pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>Simulated developer: model versions compared</h1>
{charts}
<pre>{html.escape(table(reports))}</pre>
</body></html>
"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, "utf-8")
    return out
