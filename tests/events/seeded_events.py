"""A seeded event history for the report and drift tests: rows as the recorder writes them,
plus the ground truth each row was made from (``Truth``), so tests compute the expected
aggregates from the truth, never from the code under test.

Every text field carries a canary (``CANARY``) that must never reach a report."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

CANARY = "zqxCANARYjv"
DAY = 86400.0
T0 = 1_780_000_000.0  # a fixed start (2026-05-28 UTC)
RULES = [("bandit", "B602"), ("secrets", "CW-SECRET-AWS"), ("license", "CW-LICENSE-GPL"),
         ("ruff", "F401")]


@dataclass
class Truth:
    cid: str
    at: float
    model: str
    language: str
    kind: str
    multiline: bool
    source: str
    confidence: float
    user: str
    shown: bool
    accepted: bool
    accepted_len: int = 0
    kept: dict[int, int | None] = field(default_factory=dict)
    """checkpoint seconds -> kept characters (None: not measured)."""
    blocked: list[tuple[str, str]] = field(default_factory=list)
    latency: dict[str, float] = field(default_factory=dict)


@dataclass
class Version:
    label: str
    accept: float
    """Acceptance probability of a shown suggestion."""
    keep: float = 0.8
    """Share of accepted characters still there at the end."""
    n: int = 300
    start_day: float = 0.0
    days: float = 10.0


def _text(rng: random.Random, what: str) -> str:
    return f"{what} {CANARY}{rng.randrange(10**6)} secret_value_{rng.randrange(10**6)}"


def generate(versions: list[Version], *, seed: int = 0, users: int = 6,
             languages: tuple[str, ...] = ("python", "typescript"),
             sources: tuple[str, ...] = ("model", "index")) -> tuple[list[dict[str, Any]],
                                                                     list[Truth]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    truth: list[Truth] = []
    user_ids = [f"user{u:02d}" for u in range(users)]
    for v in versions:
        for _ in range(v.n):
            t = _one(rng, v, rng.choice(user_ids), languages, sources)
            truth.append(t)
            rows.extend(_rows(rng, t))
    rows.sort(key=lambda r: (r["at"], r["_order"]))
    for r in rows:
        del r["_order"]
    return rows, truth


def _one(rng: random.Random, v: Version, user: str, languages: tuple[str, ...],
         sources: tuple[str, ...]) -> Truth:
    source = rng.choice(sources)
    confidence = round(rng.random(), 3)
    accept_p = v.accept * (0.5 + confidence)  # calibrated-ish: confident ones accepted more
    shown = rng.random() < 0.9
    accepted = shown and rng.random() < min(1.0, accept_p)
    t = Truth(cid=uuid.UUID(int=rng.getrandbits(128)).hex,
              at=T0 + (v.start_day + rng.random() * v.days) * DAY, model=v.label,
              language=rng.choice(languages), kind=rng.choice(["inline", "popup"]),
              multiline=rng.random() < 0.3, source=source, confidence=confidence, user=user,
              shown=shown, accepted=accepted,
              latency={"total": round(rng.uniform(20, 200), 3),
                       "prompt": round(rng.uniform(1, 10), 3),
                       "generation": round(rng.uniform(10, 150), 3),
                       "vetting": round(rng.uniform(1, 20), 3),
                       "index": round(rng.uniform(0.1, 5), 3)})
    if rng.random() < 0.15:
        t.blocked.append(rng.choice(RULES))
    if accepted:
        t.accepted_len = rng.randint(5, 60)
        k = t.accepted_len
        for cp in (30, 120, 600):
            if rng.random() < 0.1:  # document still open, no later measurement
                t.kept.update({c: None for c in (30, 120, 600) if c >= cp})
                break
            k = min(k, round(t.accepted_len * v.keep + rng.randint(-3, 3)))
            t.kept[cp] = max(0, k)
    return t


def _rows(rng: random.Random, t: Truth) -> list[dict[str, Any]]:
    common = {"completion_id": t.cid, "language": t.language, "model_version": t.model,
              "uri_hash": "u" * 16, "repo_hash": "r" * 16, "user_hash": t.user}
    gate = ({"source": "index", "match_tokens": 9, "vote_share": t.confidence}
            if t.source == "index" else {"source": "model", "mean_logprob": None})
    if t.source == "model":
        import math

        gate["mean_logprob"] = math.log(max(t.confidence, 1e-6))
    out = []
    order = 0

    def row(type_: str, at: float, index: int = 0, **extra: Any) -> None:
        nonlocal order
        order += 1
        out.append({"type": type_, "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                    **common, "candidate_index": index, "at": at, "_order": order, **extra})

    base = {"prefix": _text(rng, "prefix"), "suffix": _text(rng, "suffix"),
            "kind": t.kind, "multiline": t.multiline, "latency_ms": t.latency["total"],
            "prompt_ms": t.latency["prompt"], "generation_ms": t.latency["generation"],
            "vetting_ms": t.latency["vetting"], "index_ms": t.latency["index"],
            "prompt_tokens": 300, "gate": gate, "redactions": {}}
    row("completion", t.at, 0, **base, suggestion=_text(rng, "suggestion"), action="allow",
        findings=[], statuses={"bandit": "ok"}, blocked=False)
    for i, (analyzer, rule) in enumerate(t.blocked, start=1):
        row("completion", t.at, i, **base, suggestion=_text(rng, "blocked"), action="block",
            findings=[{"rule_id": rule, "analyzer": analyzer, "action": "block",
                       "message": _text(rng, "finding"), "severity": "high",
                       "confidence": "high", "line": 1}],
            statuses={analyzer: "ok"}, blocked=True)
    fb = {"suggestion_length": 80, "shown_ms": 400.0, "reason": None, "partial": False,
          "accepted_length": None}
    if t.shown:
        row("show", t.at + 1, **fb)
    if t.accepted:
        row("accept", t.at + 2, **{**fb, "accepted_length": t.accepted_len,
                                   "partial": t.accepted_len < 80})
        for cp in (30, 120, 600):
            kept = t.kept.get(cp)
            if kept is None:
                break
            row("survival", t.at + 2 + cp, after_s=float(cp), checkpoint=f"{cp}s",
                accepted_chars=t.accepted_len, kept_chars=kept, final=cp == 600)
    elif t.shown:
        row("dismiss", t.at + 3, **{**fb, "reason": "escape"})
    return out
