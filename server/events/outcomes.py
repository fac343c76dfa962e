"""Event rows joined into one outcome per served completion (what the report, drift test and
``codeward events stats`` count). Only numbers and categories are kept: the text fields of
a row (prefix, suffix, suggestion, finding messages) are never read.

A *position* is one completion that was served (at least one candidate not blocked):
``shown`` when any candidate got a show, accept or dismiss event (or, in a store whose
clients never send show events, when it was served), ``accepted`` when any was accepted.
``kept_at[T]`` is the characters of its accepted text still there T seconds after the
accept (the survival checkpoint of T, or the measurement at close when the document closed
earlier); ``None`` while not yet measured. ``kept`` is the last measurement.

Gate inputs (the project index records them; absent in older events): a completion row's
``gate`` dict (or the row itself) with ``source`` ("index" or "model"), ``vote_share``,
``match_tokens``, ``mean_logprob``, or an explicit ``confidence`` in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

STAGES = ("prompt", "index", "generation", "vetting", "total")
"""Latency stages: ``<stage>_ms`` fields of a completion row (total = ``latency_ms``)."""


@dataclass
class Position:
    completion_id: str
    at: float
    model_version: str
    language: str
    kind: str = ""
    multiline: bool = False
    source: str = "model"
    confidence: float | None = None
    user: str = ""
    served: bool = False
    shown: bool = False
    accepted: bool = False
    dismissed: bool = False
    accepted_chars: int = 0
    kept: int | None = None
    kept_at: dict[float, int] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)

    @property
    def stratum(self) -> tuple[str, str, bool, str]:
        """The kind of position: compared like with like across model versions."""
        return (self.language, self.kind, self.multiline, self.source)


@dataclass
class Verdict:
    """One vetted candidate (blocked or not): its action and its findings' ids."""

    at: float
    model_version: str
    action: str
    blocked: bool
    rules: list[tuple[str, str, str]]
    """(analyzer, rule id, the finding's action)."""
    statuses: dict[str, str]


@dataclass
class Collected:
    positions: list[Position]
    verdicts: list[Verdict]
    checkpoints: list[float]
    has_show_events: bool


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def gate_inputs(row: dict[str, Any]) -> dict[str, Any]:
    gate = row.get("gate")
    return gate if isinstance(gate, dict) else row


def source_of(row: dict[str, Any]) -> str:
    source = gate_inputs(row).get("source") or row.get("source")
    return source if isinstance(source, str) and source else "model"


def confidence_of(row: dict[str, Any]) -> float | None:
    """The confidence the gate saw, in [0, 1]: ``confidence`` if recorded, else the index
    candidate's vote share, else the model's mean per-token probability."""
    g = gate_inputs(row)
    for value in (g.get("confidence"), row.get("confidence")):
        explicit = _number(value)
        if explicit is not None:
            return min(1.0, max(0.0, explicit))
    share = _number(g.get("vote_share"))
    if source_of(row) == "index" and share is not None:
        return min(1.0, max(0.0, share))
    mean = _number(g.get("mean_logprob"))
    return math.exp(min(0.0, mean)) if mean is not None else None


def _rules(findings: Any) -> list[tuple[str, str, str]]:
    out = []
    for f in findings if isinstance(findings, list) else []:
        if isinstance(f, dict):
            out.append((str(f.get("analyzer") or "?"), str(f.get("rule_id") or "?"),
                        str(f.get("action") or "annotate")))
    return out


class _Builder:
    def __init__(self, checkpoints: Iterable[float]) -> None:
        self.checkpoints = sorted(float(c) for c in checkpoints)
        self.positions: dict[str, Position] = {}
        self.verdicts: list[Verdict] = []
        self.has_show = False
        self.survival: dict[tuple[str, int], list[tuple[float, str, int]]] = {}

    def completion(self, row: dict[str, Any]) -> None:
        cid = str(row.get("completion_id"))
        blocked = bool(row.get("blocked"))
        self.verdicts.append(Verdict(
            at=float(row.get("at") or 0), model_version=str(row.get("model_version") or "?"),
            action=str(row.get("action") or "allow"), blocked=blocked,
            rules=_rules(row.get("findings")),
            statuses={str(k): str(v) for k, v in (row.get("statuses") or {}).items()}))
        pos = self.positions.get(cid)
        if pos is None:
            pos = self.positions[cid] = Position(
                completion_id=cid, at=float(row.get("at") or 0),
                model_version=str(row.get("model_version") or "?"),
                language=str(row.get("language") or "?"), kind=str(row.get("kind") or ""),
                multiline=bool(row.get("multiline")), user=str(row.get("user_hash") or ""))
            for stage in STAGES:
                value = _number(row.get("latency_ms" if stage == "total" else f"{stage}_ms"))
                if value is not None:
                    pos.latency[stage] = value
        if not blocked and not pos.served:  # the first candidate shown speaks for the position
            pos.served = True
            pos.source = source_of(row)
            pos.confidence = confidence_of(row)

    def feedback(self, row: dict[str, Any]) -> None:
        pos = self.positions.get(str(row.get("completion_id")))
        if pos is None:  # feedback without its completion (outside the window)
            return
        kind = row.get("type")
        pos.shown = True
        self.has_show = self.has_show or kind == "show"
        if kind == "accept":
            pos.accepted = True
            pos.accepted_chars = max(pos.accepted_chars, int(row.get("accepted_length") or 0))
        elif kind == "dismiss":
            pos.dismissed = True

    def survival_row(self, row: dict[str, Any]) -> None:
        key = (str(row.get("completion_id")), int(row.get("candidate_index") or 0))
        self.survival.setdefault(key, []).append(
            (float(row.get("after_s") or 0), str(row.get("checkpoint") or ""),
             int(row.get("kept_chars") or 0)))

    def finish(self) -> Collected:
        for (cid, _), measured in self.survival.items():
            pos = self.positions.get(cid)
            if pos is None:
                continue
            measured.sort()
            pos.kept = (pos.kept or 0) + measured[-1][2]
            for t in self.checkpoints:
                kept = _kept_at(measured, t)
                if kept is not None:
                    pos.kept_at[t] = pos.kept_at.get(t, 0) + kept
        positions = [p for p in self.positions.values() if p.served]
        if not self.has_show:  # clients that send no show events: served counts as shown
            for p in positions:
                p.shown = True
        positions.sort(key=lambda p: p.at)
        return Collected(positions, self.verdicts, self.checkpoints, self.has_show)


def _kept_at(measured: list[tuple[float, str, int]], t: float) -> int | None:
    for _, checkpoint, kept in measured:
        if checkpoint == f"{t:g}s":
            return kept
    closes = [kept for after_s, checkpoint, kept in measured
              if checkpoint == "close" and after_s < t]
    return closes[-1] if closes else None


def collect(rows: Iterable[dict[str, Any]], checkpoints: Iterable[float] = (30, 120, 600),
            ) -> Collected:
    """One pass over event rows (any order within a completion's own rows being
    completion first, as the store keeps them)."""
    b = _Builder(checkpoints)
    for row in rows:
        kind = row.get("type")
        if kind == "completion":
            b.completion(row)
        elif kind in ("show", "accept", "dismiss"):
            b.feedback(row)
        elif kind == "survival":
            b.survival_row(row)
    return b.finish()
