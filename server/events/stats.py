"""Acceptance and survival statistics over event rows (``codeward events stats``).

Per (language, model version) and overall: completions served (with at least one shown
candidate), blocked candidates, shown, accepted (full or partial), dismissed, acceptance
rate (accepted / shown, or / served when the client sends no show events), accepted and
kept characters (kept = last survival measurement of each acceptance), latency p50/p95.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


class _Group:
    def __init__(self) -> None:
        self.served: set[str] = set()
        self.blocked = 0
        self.shown: set[str] = set()
        self.accepted: set[str] = set()
        self.partial = 0
        self.dismissed: set[str] = set()
        self.accepted_chars: dict[tuple[str, int], int] = {}
        self.kept: dict[tuple[str, int], tuple[float, int, int]] = {}
        self.latency: list[float] = []

    def add(self, row: dict[str, Any]) -> None:
        kind, cid = row.get("type"), str(row.get("completion_id"))
        key = (cid, int(row.get("candidate_index") or 0))
        if kind == "completion":
            if row.get("blocked"):
                self.blocked += 1
            elif cid not in self.served:
                self.served.add(cid)
                if isinstance(row.get("latency_ms"), int | float):
                    self.latency.append(float(row["latency_ms"]))
        elif kind == "show":
            self.shown.add(cid)
        elif kind == "accept":
            self.accepted.add(cid)
            self.partial += bool(row.get("partial"))
            length = int(row.get("accepted_length") or 0)
            self.accepted_chars[key] = max(length, self.accepted_chars.get(key, 0))
        elif kind == "dismiss":
            self.dismissed.add(cid)
        elif kind == "survival":
            at = float(row.get("after_s") or 0)
            if key not in self.kept or at >= self.kept[key][0]:
                self.kept[key] = (at, int(row.get("accepted_chars") or 0),
                                  int(row.get("kept_chars") or 0))

    def result(self) -> dict[str, Any]:
        base = len(self.shown) or len(self.served)
        accepted_tracked = sum(a for _, a, _ in self.kept.values())
        kept = sum(k for _, _, k in self.kept.values())
        return {
            "served": len(self.served), "blocked_candidates": self.blocked,
            "shown": len(self.shown), "accepted": len(self.accepted),
            "partial_accepts": self.partial, "dismissed": len(self.dismissed),
            "acceptance_rate": round(len(self.accepted) / base, 4) if base else None,
            "accepted_chars": sum(self.accepted_chars.values()),
            "kept_chars": kept,
            "kept_rate": round(kept / accepted_tracked, 4) if accepted_tracked else None,
            "latency_ms_p50": _pct(self.latency, 0.5),
            "latency_ms_p95": _pct(self.latency, 0.95),
        }


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total = _Group()
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for row in rows:
        total.add(row)
        groups[(row.get("language") or "?", row.get("model_version") or "?")].add(row)
    return {
        "total": total.result(),
        "by_language_model": [
            {"language": lang, "model_version": model, **g.result()}
            for (lang, model), g in sorted(groups.items())
        ],
    }
