"""The report's numbers: aggregates of :class:`~codeward.server.events.outcomes.Collected`
(no text, no user ids), each a plain dict or list the plots and tables read.

Confidence intervals are 95%: Wilson score intervals for rates, mean +- 1.96 standard
errors for kept characters per shown suggestion.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from codeward.server.events.drift import Drift, drift
from codeward.server.events.outcomes import STAGES, Collected, Position

Z95 = 1.959964
MIN_USERS = 5
CALIBRATION_BINS = 10
TOP_RULES = 8


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = k / n
    centre = p + Z95 * Z95 / (2 * n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n))
    den = 1 + Z95 * Z95 / n
    return max(0.0, (centre - half) / den), min(1.0, (centre + half) / den)


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return 0.0, 0.0, 0.0
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, m, m
    se = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1) / len(values))
    return m, m - Z95 * se, m + Z95 * se


def kept_value(p: Position) -> float:
    """Kept characters this shown position contributed (0 if not accepted)."""
    return float(p.kept or 0) if p.accepted else 0.0


def rates(positions: list[Position]) -> dict[str, Any]:
    shown = [p for p in positions if p.shown]
    k = sum(p.accepted for p in shown)
    lo, hi = wilson(k, len(shown))
    kept = [kept_value(p) for p in shown if not p.accepted or p.kept is not None]
    m, klo, khi = mean_ci(kept)
    return {"shown": len(shown), "accepted": k,
            "rate": k / len(shown) if shown else None, "rate_lo": lo, "rate_hi": hi,
            "accepted_chars": sum(p.accepted_chars for p in shown),
            "kept_chars": int(sum(kept)), "kept_per_shown": m if kept else None,
            "kept_lo": klo, "kept_hi": khi}


def bucket_size(positions: list[Position]) -> float:
    """A day, or an hour when the events span under three days."""
    if not positions:
        return 86400.0
    span = positions[-1].at - positions[0].at
    return 86400.0 if span > 3 * 86400 else 3600.0


def grouped(positions: Iterable[Position], key: Callable[[Position], Any]
            ) -> dict[Any, list[Position]]:
    out: dict[Any, list[Position]] = defaultdict(list)
    for p in positions:
        out[key(p)].append(p)
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def series(positions: list[Position], size: float) -> dict[str, list[dict[str, Any]]]:
    """Per model version, per time bucket (start, epoch seconds): rates with intervals."""
    out: dict[str, list[dict[str, Any]]] = {}
    for version, ps in grouped(positions, lambda p: p.model_version).items():
        buckets = grouped(ps, lambda p: math.floor(p.at / size) * size)
        out[version] = [{"bucket": b, **rates(bp)} for b, bp in sorted(buckets.items())]
    return out


def funnel(positions: list[Position], checkpoints: list[float]) -> dict[str, Any]:
    """Shown -> accepted -> kept at each checkpoint (suggestions and characters; the kept
    steps count the acceptances measured by then)."""
    shown = [p for p in positions if p.shown]
    accepted = [p for p in shown if p.accepted]
    steps = [{"step": "shown", "suggestions": len(shown), "chars": None},
             {"step": "accepted", "suggestions": len(accepted),
              "chars": sum(p.accepted_chars for p in accepted)}]
    for t in checkpoints:
        measured = [p for p in accepted if t in p.kept_at]
        steps.append({"step": f"kept {_duration(t)}", "measured": len(measured),
                      "suggestions": sum(p.kept_at[t] > 0 for p in measured),
                      "chars": sum(p.kept_at[t] for p in measured),
                      "accepted_chars": sum(p.accepted_chars for p in measured)})
    return {"steps": steps}


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def calibration(positions: list[Position], bins: int = CALIBRATION_BINS
                ) -> dict[str, list[dict[str, Any]]]:
    """Per source: confidence bins of shown positions, observed acceptance per bin."""
    out: dict[str, list[dict[str, Any]]] = {}
    scored = [p for p in positions if p.shown and p.confidence is not None]
    for source, ps in grouped(scored, lambda p: p.source).items():
        by_bin = grouped(ps, lambda p: min(bins - 1, int((p.confidence or 0) * bins)))
        rows = []
        for b, bp in sorted(by_bin.items()):
            k = sum(p.accepted for p in bp)
            lo, hi = wilson(k, len(bp))
            rows.append({"bin": b, "confidence": sum(p.confidence or 0 for p in bp) / len(bp),
                         "n": len(bp), "accepted": k, "rate": k / len(bp),
                         "rate_lo": lo, "rate_hi": hi})
        out[source] = rows
    return out


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def latency(positions: list[Position]) -> dict[str, dict[str, Any]]:
    out = {}
    for stage in STAGES:
        values = [p.latency[stage] for p in positions if stage in p.latency]
        if values:
            out[stage] = {"values": values, "n": len(values), "p50": percentile(values, 0.5),
                          "p95": percentile(values, 0.95)}
    return out


def verdicts(collected: Collected, size: float) -> dict[str, Any]:
    """Blocked candidates per analyzer per time bucket, and every rule's counts."""
    over_time: dict[str, Counter[float]] = defaultdict(Counter)
    rules: Counter[tuple[str, str, str]] = Counter()
    rule_time: dict[str, Counter[float]] = defaultdict(Counter)
    actions: Counter[str] = Counter()
    for v in collected.verdicts:
        actions[v.action] += 1
        for analyzer, rule_id in {(a, r) for a, r, _ in v.rules}:
            rule_time[f"{analyzer}/{rule_id}"][math.floor(v.at / size) * size] += 1
        if v.blocked:  # by the analyzers that asked for it (or failed: fail-closed)
            bucket = math.floor(v.at / size) * size
            blockers = ({a for a, _, act in v.rules if act == "block"}
                        or {a for a, s in v.statuses.items() if s not in ("ok", "skipped")}
                        or {"(unknown)"})
            for analyzer in blockers:
                over_time[analyzer][bucket] += 1
        for finding in set(v.rules):
            rules[finding] += 1
    return {"candidates": len(collected.verdicts), "actions": dict(actions), "bucket_s": size,
            "blocks_over_time": {a: sorted(c.items()) for a, c in sorted(over_time.items())},
            "rules_over_time": {r: sorted(rule_time[r].items()) for r in sorted(
                rule_time, key=lambda r: -sum(rule_time[r].values()))[:TOP_RULES]},
            "rules": [{"analyzer": a, "rule": r, "action": act, "count": n}
                      for (a, r, act), n in rules.most_common()]}


def users(positions: list[Position], min_users: int) -> dict[str, Any]:
    """Acceptance per user (no ids), only when at least ``min_users`` users are present."""
    by_user = grouped((p for p in positions if p.shown and p.user), lambda p: p.user)
    out: dict[str, Any] = {"users": len(by_user), "min_users": min_users}
    if len(by_user) < min_users:
        out["rates"] = None
        return out
    out["rates"] = sorted(sum(p.accepted for p in ps) / len(ps) for ps in by_user.values())
    return out


def finetune_history(versions: list[dict[str, Any]], history: list[dict[str, Any]],
                     current: str | None) -> list[dict[str, Any]]:
    """Each registered version: its gate checks, promoted or why not."""
    promoted = {e.get("version") for e in history if e.get("reason") != "rollback"}
    out = []
    for v in versions:
        metrics = v.get("metrics") or {}
        checks = [c for c in metrics.get("checks", []) if isinstance(c, dict)]
        out.append({
            "version": v.get("version", "?"), "created": v.get("created", ""),
            "base_version": v.get("base_version", ""), "note": v.get("note", ""),
            "gated": bool(metrics), "passed": metrics.get("passed"),
            "promoted": v.get("version") in promoted, "current": v.get("version") == current,
            "checks": [{k: c.get(k) for k in ("name", "passed", "baseline", "candidate",
                                               "rule")} for c in checks],
            "reasons": [str(r) for r in metrics.get("reasons", [])],
        })
    return out


def build(collected: Collected, *, min_users: int = MIN_USERS,
          registry: dict[str, Any] | None = None, since: float | None = None,
          now: float | None = None) -> dict[str, Any]:
    """Every section's aggregates. ``registry``: ``{"versions", "history", "current"}``
    (plain dicts, see :func:`finetune_history`) or None when there is none."""
    ps = collected.positions
    size = bucket_size(ps)
    reg = registry or {}
    drifts: list[Drift] = drift(ps)
    return {
        "generated": now or time.time(), "since": since,
        "first": ps[0].at if ps else None, "last": ps[-1].at if ps else None,
        "bucket_s": size, "has_show_events": collected.has_show_events,
        "total": rates(ps),
        "by_model": {v: rates(g) for v, g in grouped(ps, lambda p: p.model_version).items()},
        "series": series(ps, size),
        "by_language": {k: rates(g) for k, g in grouped(ps, lambda p: p.language).items()},
        "by_source": {k: rates(g) for k, g in grouped(ps, lambda p: p.source).items()},
        "funnel": funnel(ps, collected.checkpoints),
        "calibration": calibration(ps),
        "latency": latency(ps),
        "verdicts": verdicts(collected, size),
        "users": users(ps, min_users),
        "drift": [d.as_dict() | {"message": d.message(), "rollback": d.rollback_command()}
                  for d in drifts],
        "finetune": finetune_history(reg.get("versions", []), reg.get("history", []),
                                     reg.get("current")) if registry else None,
    }
