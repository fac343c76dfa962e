"""What the server is doing, live: the short summary of ``codeward/status`` (always on, no
dependencies) and the two hooks that feed it and the optional Prometheus metrics
(:mod:`.metrics`): every finished completion request (the completion service's
``on_finish``) and every feedback notification (:class:`ObservedRecorder`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import date
from typing import Any

from .completion import CompletionEvent, CompletionRequest, CompletionResult
from .events import Recorder

STAGES = ("prompt", "index", "generation", "vetting")
"""Stages of a completion with their own ``<stage>_ms`` on the result (``index_ms`` only
when the project index served the request); ``total`` is ``latency_ms``."""


def outcome(result: CompletionResult) -> str:
    """``suggested`` (candidates returned), else why not: the result's reason (blocked,
    empty, busy, stale, cancelled, disabled, excluded, no-model) or ``reused``."""
    if result.reason == "reused":
        return "reused"
    if result.candidates:
        return "suggested"
    return result.reason or "empty"


def stage_ms(result: CompletionResult) -> dict[str, float]:
    """Milliseconds per stage that ran for this result."""
    out = {"total": result.latency_ms}
    for stage in STAGES:
        value = getattr(result, f"{stage}_ms", None)  # index_ms: only with the project index
        if isinstance(value, int | float) and value > 0:
            out[stage] = float(value)
    return out


def ran_model(result: CompletionResult) -> bool:
    """Whether this result went through prompt, generation and vetting."""
    return result.reason not in ("reused", "busy", "stale", "disabled", "excluded", "no-model")


class Activity:
    """Counts and recent latencies of this server process (thread-safe)."""

    def __init__(self, keep: int = 20, today: Callable[[], date] = date.today) -> None:
        self._lock = threading.Lock()
        self._today = today
        self.recent: deque[dict[str, float]] = deque(maxlen=keep)
        self.outcomes: Counter[str] = Counter()
        self.feedback_counts: Counter[str] = Counter()
        self._day = today()
        self._blocked_today = 0
        self.last_at: float | None = None

    def finished(self, req: CompletionRequest, result: CompletionResult) -> None:
        with self._lock:
            self.outcomes[outcome(result)] += 1
            if result.blocked:
                self._roll_day()
                self._blocked_today += len(result.blocked)
            if ran_model(result) and result.reason != "cancelled":
                self.recent.append(stage_ms(result))
                self.last_at = time.time()

    def feedback(self, kind: str, params: dict[str, Any]) -> None:
        if kind in ("show", "accept", "dismiss"):
            with self._lock:
                self.feedback_counts[kind] += 1

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self._blocked_today = today, 0

    def summary(self) -> dict[str, Any]:
        """Last latencies (ms per stage), recent median, blocked candidates today (local
        date), and counts since start."""
        with self._lock:
            self._roll_day()
            recent = list(self.recent)
            totals = sorted(r["total"] for r in recent)
            return {
                "last_latency_ms": {k: round(v, 1) for k, v in recent[-1].items()}
                if recent else None,
                "recent_p50_ms": round(totals[len(totals) // 2], 1) if totals else None,
                "recent_count": len(recent),
                "blocked_today": self._blocked_today,
                "requests": sum(self.outcomes.values()),
                "outcomes": dict(self.outcomes),
                "shown": self.feedback_counts["show"],
                "accepted": self.feedback_counts["accept"],
                "dismissed": self.feedback_counts["dismiss"],
            }


class ObservedRecorder:
    """A recorder that tells ``on_feedback`` about every feedback before recording it."""

    def __init__(self, inner: Recorder, on_feedback: Callable[[str, dict[str, Any]], None]
                 ) -> None:
        self.inner = inner
        self.on_feedback = on_feedback

    def completion(self, event: CompletionEvent) -> None:
        self.inner.completion(event)

    def feedback(self, kind: str, params: dict[str, Any]) -> None:
        self.on_feedback(kind, params)
        self.inner.feedback(kind, params)

    def document_changed(self, uri: str, text: str) -> None:
        self.inner.document_changed(uri, text)

    def stats(self) -> dict[str, Any]:
        return self.inner.stats()

    def close(self) -> None:
        self.inner.close()
