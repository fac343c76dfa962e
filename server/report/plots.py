"""The report's plots: matplotlib figures rendered to inline SVG (text kept as text, so the
page is searchable and needs no fonts or network). Each function takes the aggregates of
:mod:`.aggregate` and returns one ``<svg>`` string, or "" when there is nothing to draw.

Uses ``matplotlib.figure.Figure`` directly (no pyplot, no global state, no GUI backend).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6",
          "#9d755d"]
RC: Any = {"svg.fonttype": "none", "svg.hashsalt": "codeward", "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
      "grid.alpha": 0.3, "figure.dpi": 96}


def _figure(width: float = 7.5, height: float = 3.0, ncols: int = 1) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _svg(fig: Any) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type")))
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _dates(seconds: list[float]) -> list[datetime]:
    return [datetime.fromtimestamp(s, UTC) for s in seconds]


def _date_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def over_time(series: dict[str, list[dict[str, Any]]]) -> str:
    """Acceptance rate and kept characters per shown suggestion, per model version, with
    95% intervals."""
    if not any(series.values()):
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, (a1, a2) = _figure(9.0, 3.2, ncols=2)
        for i, (version, rows) in enumerate(series.items()):
            color = COLORS[i % len(COLORS)]
            rows = [r for r in rows if r["shown"]]
            x = _dates([r["bucket"] for r in rows])
            a1.plot(x, [r["rate"] for r in rows], marker="o", ms=3, color=color, label=version)
            a1.fill_between(x, [r["rate_lo"] for r in rows], [r["rate_hi"] for r in rows],
                            color=color, alpha=0.18, linewidth=0)
            kept = [r for r in rows if r["kept_per_shown"] is not None]
            xk = _dates([r["bucket"] for r in kept])
            a2.plot(xk, [r["kept_per_shown"] for r in kept], marker="o", ms=3, color=color,
                    label=version)
            a2.fill_between(xk, [r["kept_lo"] for r in kept], [r["kept_hi"] for r in kept],
                            color=color, alpha=0.18, linewidth=0)
        a1.set(title="Acceptance rate (95% CI)", xlabel="time (UTC)", ylabel="accepted / shown")
        a1.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        a2.set(title="Kept characters per shown suggestion (95% CI)",
               xlabel="time (UTC)", ylabel="kept chars / shown")
        for ax in (a1, a2):
            _date_axis(ax)
            ax.set_ylim(bottom=0)
        a1.legend(title="model version", fontsize=8)
        return _svg(fig)


def by_group(groups: dict[str, dict[str, Any]], title: str, xlabel: str) -> str:
    """Acceptance rate (with 95% interval) and kept characters per shown, per group."""
    groups = {k: g for k, g in groups.items() if g["shown"]}
    if not groups:
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, (a1, a2) = _figure(9.0, 2.8, ncols=2)
        names = list(groups)
        rate = [groups[n]["rate"] for n in names]
        err = [[r - groups[n]["rate_lo"] for n, r in zip(names, rate, strict=True)],
               [groups[n]["rate_hi"] - r for n, r in zip(names, rate, strict=True)]]
        colors = [COLORS[i % len(COLORS)] for i in range(len(names))]
        a1.bar(names, rate, yerr=err, capsize=4, color=colors)
        a1.set(title=f"Acceptance by {title} (95% CI)", xlabel=xlabel, ylabel="accepted / shown")
        a1.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        kept = [groups[n]["kept_per_shown"] or 0 for n in names]
        kerr = [[max(0, k - groups[n]["kept_lo"]) for n, k in zip(names, kept, strict=True)],
                [max(0, groups[n]["kept_hi"] - k) for n, k in zip(names, kept, strict=True)]]
        a2.bar(names, kept, yerr=kerr, capsize=4, color=colors)
        a2.set(title=f"Kept characters per shown suggestion by {title}", xlabel=xlabel,
               ylabel="kept chars / shown")
        return _svg(fig)


def funnel(data: dict[str, Any]) -> str:
    steps = data["steps"]
    if not steps or not steps[0]["suggestions"]:
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(7.5, 2.8)
        names = [s["step"] for s in steps][::-1]
        values = [s["suggestions"] for s in steps][::-1]
        bars = ax.barh(names, values, color=COLORS[0])
        top = max(values)
        for bar, value in zip(bars, values, strict=True):
            ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2,
                    f"{value:,} ({value / top:.0%})", va="center", fontsize=8)
        ax.set(title="Funnel: shown -> accepted -> kept (suggestions with any characters left)",
               xlabel="suggestions", ylabel="step")
        ax.set_xlim(0, top * 1.2)
        return _svg(fig)


def calibration(data: dict[str, list[dict[str, Any]]]) -> str:
    if not any(data.values()):
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(5.5, 3.6)
        ax.plot([0, 1], [0, 1], linestyle="--", color="#999999", label="perfect calibration")
        for i, (source, rows) in enumerate(data.items()):
            x = [r["confidence"] for r in rows]
            y = [r["rate"] for r in rows]
            err = [[r["rate"] - r["rate_lo"] for r in rows], [r["rate_hi"] - r["rate"] for r in rows]]
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=source,
                        color=COLORS[i % len(COLORS)])
        ax.set(title="Confidence gate calibration", xlabel="confidence shown (gate input)",
               ylabel="observed acceptance", xlim=(0, 1), ylim=(0, 1))
        ax.legend(title="source", fontsize=8)
        return _svg(fig)


def latency(data: dict[str, dict[str, Any]]) -> str:
    if not data:
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, axes = _figure(2.4 * len(data), 2.6, ncols=len(data))
        for i, (ax, (stage, d)) in enumerate(zip(axes, data.items(), strict=True)):
            ax.hist(d["values"], bins=30, color=COLORS[i % len(COLORS)])
            ax.axvline(d["p95"], color="#333333", linestyle=":", linewidth=1)
            ax.set(title=f"{stage} (p50 {d['p50']:.0f}, p95 {d['p95']:.0f} ms)",
                   xlabel="ms", ylabel="completions")
        return _svg(fig)


def verdicts(data: dict[str, Any]) -> str:
    over = data["blocks_over_time"]
    if not over:
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, (ax, ax2) = _figure(10.0, 3.2, ncols=2)
        buckets = sorted({b for rows in over.values() for b, _ in rows})
        x = _dates(buckets)
        bottom = [0] * len(buckets)
        width = (buckets[1] - buckets[0]) / 86400 * 0.8 if len(buckets) > 1 else 0.5
        for i, (analyzer, rows) in enumerate(over.items()):
            counts = dict(rows)
            values = [counts.get(b, 0) for b in buckets]
            ax.bar(x, values, bottom=bottom, width=width, label=analyzer,
                   color=COLORS[i % len(COLORS)])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set(title="Blocked candidates by analyzer", xlabel="time (UTC)",
               ylabel="blocked candidates")
        _date_axis(ax)
        ax.legend(title="analyzer", fontsize=8)
        by_rule = data.get("rules_over_time", {})
        times = sorted({b for rows in by_rule.values() for b, _ in rows} | set(buckets))
        step = float(data.get("bucket_s") or 86400)
        times = [times[0] + k * step for k in range(int((times[-1] - times[0]) / step) + 1)]
        for i, (rule, rows) in enumerate(by_rule.items()):
            counts = dict(rows)
            ax2.plot(_dates(times), [counts.get(b, 0) for b in times], marker="o", ms=2.5,
                     color=COLORS[i % len(COLORS)], label=rule)
        ax2.set(title="Findings by rule (top 8, any action)", xlabel="time (UTC)",
                ylabel="candidates")
        _date_axis(ax2)
        ax2.set_ylim(bottom=0)
        ax2.legend(title="analyzer/rule", fontsize=7)
        return _svg(fig)


def users(data: dict[str, Any]) -> str:
    if not data.get("rates"):
        return ""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(5.5, 2.6)
        ax.hist(data["rates"], bins=min(20, max(5, len(data["rates"]))), range=(0, 1),
                color=COLORS[2])
        ax.set(title=f"Acceptance per user ({data['users']} users, no ids)",
               xlabel="user's acceptance rate", ylabel="users")
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        return _svg(fig)


def finetune(history: list[dict[str, Any]] | None) -> str:
    """Each gated candidate's checks: baseline vs candidate, promoted or refused."""
    gated = [v for v in history or [] if v["checks"]]
    if not gated:
        return ""
    import matplotlib

    names = sorted({c["name"] for v in gated for c in v["checks"]})
    with matplotlib.rc_context(RC):
        fig, axes = _figure(max(7.5, 2.6 * len(names)), 2.8, ncols=len(names))
        labels = [v["version"] for v in gated]
        for ax, name in zip(axes, names, strict=True):
            for i, v in enumerate(gated):
                check = next((c for c in v["checks"] if c["name"] == name), None)
                if check is None or check["candidate"] is None:
                    continue
                color = "#54a24b" if v["promoted"] else "#e45756"
                if check["baseline"] is not None:
                    ax.plot([i, i], [check["baseline"], check["candidate"]], color="#bbbbbb")
                    ax.scatter([i], [check["baseline"]], color="#888888", s=14, marker="s")
                ax.scatter([i], [check["candidate"]], color=color, s=24,
                           marker="o" if check["passed"] else "x")
            ax.set_xticks(range(len(labels)), labels)
            ax.set(title=name, xlabel="candidate version", ylabel="value")
        fig.suptitle("Fine-tuning gate: baseline (grey) vs candidate (green promoted, red "
                     "refused; x = check failed)", fontsize=9)
        return _svg(fig)
