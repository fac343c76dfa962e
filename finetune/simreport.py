"""Reports of ``codeward simulate`` runs: the counts kept while simulating
(:class:`SimStats`), a text table and a self-contained HTML page with SVG bar charts
comparing model versions (no plotting library needed).

A *position* is one completion request. Per source (``index``: copied from the project,
``model``: generated; a position counts for the source of the item shown first) and
combined: suggestions shown per position, acceptance rate of shown suggestions,
accepted-and-kept characters per position, insecure rate of shown suggestions.
"""

from __future__ import annotations

import html
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS = [
    ("acceptance_rate", "acceptance rate of shown", "{:.1%}"),
    ("shown_per_position", "suggestions shown / position", "{:.2f}"),
    ("kept_chars_per_position", "accepted-and-kept chars / position", "{:.2f}"),
    ("kept_chars_per_suggestion", "kept chars / suggestion", "{:.1f}"),
    ("insecure_rate", "insecure-suggestion rate", "{:.1%}"),
    ("latency_p50_ms", "latency p50 (ms)", "{:.0f}"),
    ("latency_p95_ms", "latency p95 (ms)", "{:.0f}"),
]
COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
SOURCES = ("index", "model")


@dataclass
class SimStats:
    requests: int = 0
    shown: int = 0
    accepted: int = 0
    partial: int = 0
    dismissed: int = 0
    accepted_chars: int = 0
    kept_chars: int = 0
    insecure: int = 0
    errors: int = 0
    written: int = 0
    """Characters the developer typed itself after a dismissal (the true continuation)."""
    latencies_ms: list[float] = field(default_factory=list)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, source: str, **amounts: int) -> None:
        """Add to the totals and to ``source``'s own counts."""
        per = self.by_source.setdefault(source, Counter())
        for key, n in amounts.items():
            setattr(self, key, getattr(self, key) + n)
            per[key] += n

    def report(self, label: str, model_version: str, files: int, seed: int) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        totals = {k: getattr(self, k) for k in ("shown", "accepted", "partial", "dismissed",
                                                  "accepted_chars", "kept_chars", "insecure")}
        return {
            "label": label, "model_version": model_version, "files": files, "seed": seed,
            "requests": self.requests, "errors": self.errors, "written_chars": self.written,
            **rates(totals, self.requests),
            "by_source": {src: rates(dict(self.by_source.get(src, Counter())), self.requests)
                          for src in sorted({*SOURCES, *self.by_source})},
            "latency_p50_ms": statistics.median(lat) if lat else 0.0,
            "latency_p95_ms": lat[int(0.95 * (len(lat) - 1))] if lat else 0.0,
        }


def rates(counts: dict[str, int], positions: int) -> dict[str, Any]:
    """The counts and the rates derived from them (``positions``: requests made)."""
    c = {k: int(counts.get(k, 0)) for k in ("shown", "accepted", "partial", "dismissed",
                                             "accepted_chars", "kept_chars", "insecure")}
    shown = c["shown"]
    return {**c,
            "acceptance_rate": c["accepted"] / shown if shown else 0.0,
            "shown_per_position": shown / positions if positions else 0.0,
            "kept_chars_per_position": c["kept_chars"] / positions if positions else 0.0,
            "accepted_chars_per_suggestion": c["accepted_chars"] / shown if shown else 0.0,
            "kept_chars_per_suggestion": c["kept_chars"] / shown if shown else 0.0,
            "insecure_rate": c["insecure"] / shown if shown else 0.0}


def load(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text("utf-8")) for p in paths]


def table(reports: list[dict[str, Any]]) -> str:
    head = f"{'metric':<36}" + "".join(f"{r['label'][:18]:>20}" for r in reports)
    lines = [head, "-" * len(head)]
    for key, name, fmt in [("shown", "suggestions shown", "{:d}"),
                           ("accepted", "accepted (full or partial)", "{:d}"),
                           ("kept_chars", "kept chars (total)", "{:d}"), *METRICS]:
        lines.append(f"{name:<36}" + "".join(f"{fmt.format(r.get(key, 0)):>20}"
                                              for r in reports))
    for src in SOURCES:
        lines.append(f"-- source {src}")
        for key, name, fmt in [("shown", "suggestions shown", "{:d}"), *METRICS[:3],
                               METRICS[4]]:
            lines.append(f"  {name:<34}" + "".join(
                f"{fmt.format(r.get('by_source', {}).get(src, {}).get(key, 0)):>20}"
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
