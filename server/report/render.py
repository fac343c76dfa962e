"""The report as one self-contained HTML page: inline SVG plots, a table under each plot
with the numbers drawn (ids ``by-model``, ``by-language``, ...), no scripts, no network.

Everything written comes from :func:`.aggregate.build` (numbers, model versions, languages,
sources, analyzer and rule ids) and is HTML-escaped.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from . import plots

CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
       'style-src \'unsafe-inline\'; img-src data:">')
"""Nothing is fetched when the page is viewed: no scripts, no network."""

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
figure.plot{margin:.5em 0}figure.plot svg{max-width:100%;height:auto}
.alert{background:#fde8e8;border:1px solid #e45756;padding:.6em 1em;border-radius:4px}
.ok{background:#e8f6e8;border:1px solid #54a24b;padding:.6em 1em;border-radius:4px}
.note{color:#666;font-size:12.5px}code{background:#f4f4f4;padding:0 3px}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def table(table_id: str, head: list[str], rows: list[list[Any]]) -> str:
    out = [f'<table id="{esc(table_id)}"><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head)
           + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    return "".join(out) + "</table>"


def figure(plot_id: str, svg: str, empty: str) -> str:
    if not svg:
        return f'<p class="note">{esc(empty)}</p>'
    return f'<figure class="plot" id="plot-{esc(plot_id)}">{svg}</figure>'


def _rate_rows(groups: dict[str, dict[str, Any]]) -> list[list[Any]]:
    return [[name, g["shown"], g["accepted"], pct(g["rate"]),
             f"{pct(g['rate_lo'])} - {pct(g['rate_hi'])}", g["accepted_chars"], g["kept_chars"],
             num(g["kept_per_shown"])] for name, g in groups.items()]


RATE_HEAD = ["", "shown", "accepted", "acceptance", "95% CI", "accepted chars", "kept chars",
             "kept chars / shown"]


def _drift_section(data: dict[str, Any]) -> str:
    drifts = data["drift"]
    if not drifts:
        return '<p class="note">Only one model version in this period: nothing to compare.</p>'
    out = []
    for d in drifts:
        if d["status"] == "drop":
            out.append(f'<p class="alert">{esc(d["message"].split("; roll back")[0])}. Roll '
                       f'back with <code>{esc(d["rollback"])}</code> (then check this report '
                       "again).</p>")
        else:
            out.append(f'<p class="ok">{esc(d["message"])}.</p>')
    rows = []
    for d in drifts:
        for name, t, fmt in (("acceptance", d["acceptance"], pct),
                             ("kept chars / shown", d["kept"], num)):
            rows.append([f"{d['version']} vs {d['previous']}", name, fmt(t["previous"]),
                         fmt(t["current"]), f"{t['n_previous']} / {t['n_current']}",
                         num(t["z"], "{:.2f}"), num(t["p_value"], "{:.3g}"),
                         "DROP" if t["drop"] else "-"])
    out.append(table("drift", ["versions", "metric", "previous", "current", "n (prev / cur)",
                               "z", "p (one-sided)", "flag"], rows))
    out.append(f'<p class="note">Test: {esc(drifts[0]["test"])}; alpha = '
               f'{drifts[0]["alpha"]:g} per test; at least 30 shown positions per version in '
               "the compared strata.</p>")
    return "".join(out)


def _funnel_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for s in data["steps"]:
        chars = "-" if s.get("chars") is None else s["chars"]
        measured = s.get("measured", "-")
        rows.append([s["step"], s["suggestions"], chars, measured])
    return rows


def _finetune_section(history: list[dict[str, Any]] | None) -> str:
    if history is None:
        return ('<p class="note">No model registry found (<code>--registry DIR</code>; '
                "default: the user's registry).</p>")
    if not history:
        return '<p class="note">The registry has no versions.</p>'
    rows = []
    for v in history:
        status = ("current" if v["current"] else "promoted" if v["promoted"]
                  else "refused" if v["passed"] is False else "not promoted")
        why = "; ".join(v["reasons"]) or ("gate passed" if v["passed"] else v["note"] or "-")
        rows.append([v["version"], v["created"], v["base_version"] or "-", status, why])
    return (figure("finetune", plots.finetune(history), "No gated candidates yet.")
            + table("finetune", ["version", "created", "base", "status", "gate"], rows))


def render(data: dict[str, Any], *, title: str = "Codeward report") -> str:
    t = data["total"]
    u = data["users"]
    drops = [d for d in data["drift"] if d["status"] == "drop"]
    parts = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="note">Events from {esc(when(data["first"]))} to {esc(when(data["last"]))}'
        f'; generated {esc(when(data["generated"]))}. Aggregates only: no suggestion or '
        "document text, no user ids.</p>",
        table("summary", ["shown", "accepted", "acceptance", "95% CI", "accepted chars",
                          "kept chars", "kept chars / shown"], [_rate_rows({"": t})[0][1:]]),
    ]
    if drops:
        parts.append('<p class="alert" id="drift-alert">Acceptance drift: '
                     + esc("; ".join(d["message"] for d in drops)) + "</p>")
    parts += [
        "<h2 id='over-time'>Over time, per model version</h2>",
        figure("over-time", plots.over_time(data["series"]), "No shown suggestions."),
        table("by-model", ["model version", *RATE_HEAD[1:]], _rate_rows(data["by_model"])),
        "<h2 id='language'>Per language</h2>",
        figure("by-language", plots.by_group(data["by_language"], "language", "language"),
               "No shown suggestions."),
        table("by-language", ["language", *RATE_HEAD[1:]], _rate_rows(data["by_language"])),
        "<h2 id='source'>Per source (project index vs model)</h2>",
        figure("by-source", plots.by_group(data["by_source"], "source", "source"),
               "No shown suggestions."),
        table("by-source", ["source", *RATE_HEAD[1:]], _rate_rows(data["by_source"])),
        "<h2 id='funnel-h'>Funnel: shown, accepted, kept</h2>",
        figure("funnel", plots.funnel(data["funnel"]), "No shown suggestions."),
        table("funnel", ["step", "suggestions", "characters", "acceptances measured"],
              _funnel_rows(data["funnel"])),
        "<h2 id='calibration-h'>Confidence gate calibration</h2>",
        figure("calibration", plots.calibration(data["calibration"]),
               "No confidence recorded in these events (the gate inputs come with the "
               "project index)."),
        "<details><summary>calibration numbers</summary>",
        table("calibration", ["source", "confidence bin", "mean confidence", "shown",
                              "accepted", "acceptance"],
              [[s, f"{r['bin'] / 10:.1f}-{(r['bin'] + 1) / 10:.1f}", num(r["confidence"], "{:.2f}"),
                r["n"], r["accepted"], pct(r["rate"])]
               for s, rows in data["calibration"].items() for r in rows]),
        "</details>",
        "<h2 id='latency-h'>Latency by stage</h2>",
        figure("latency", plots.latency(data["latency"]), "No latencies recorded."),
        table("latency", ["stage", "completions", "p50 ms", "p95 ms"],
              [[s, d["n"], num(d["p50"]), num(d["p95"])] for s, d in data["latency"].items()]),
        "<h2 id='vetting'>Vetting verdicts</h2>",
        figure("verdicts", plots.verdicts(data["verdicts"]), "Nothing was blocked."),
        table("actions", ["action", "candidates"], sorted(data["verdicts"]["actions"].items())),
        table("rules", ["analyzer", "rule", "action", "findings"],
              [[r["analyzer"], r["rule"], r["action"], r["count"]]
               for r in data["verdicts"]["rules"]]),
        "<h2 id='users-h'>Per user</h2>",
    ]
    if u["rates"] is None:
        parts.append(f'<p class="note" id="users-aggregated">{u["users"]} user(s): per-user '
                     f'views need at least {u["min_users"]}; shown aggregated only.</p>')
    else:
        parts.append(figure("users", plots.users(u), ""))
    parts += ["<h2 id='drift-h'>Drift between model versions</h2>", _drift_section(data),
              "<h2 id='finetune-h'>Fine-tuning history</h2>", _finetune_section(data["finetune"])]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}'
            f"</title>{CSP}<style>{CSS}</style></head><body>{body}</body></html>\n")
