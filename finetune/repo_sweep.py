"""Choosing the confidence thresholds: a sweep over the kept answers of the TUNING
repository (never a held-out one), and the policies reported at a given setting.

For every combination policy and every grid point of the index's minimum match length and
vote share and the model's minimum mean token log-probability, the gate is applied to the
answers collected once (:func:`.repo_eval.collect`); the chosen setting is the one with the
most exact next lines (license headers excluded) among those whose precision among shown
suggestions reaches the target with 95% confidence.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from .repo_eval import Policy, Row, summarize

MIN_MATCH = (1, 2, 3, 4, 6, 8, 10, 12, 16, 24)
MIN_SHARE = (0.0, 0.5, 0.7, 0.9)
MODEL_MIN_LOGPROB = (-100.0, -1.0, -0.5, -0.35, -0.25, -0.15, -0.1)
"""-100 lets every model suggestion through."""
SWEPT_POLICIES = ("index-only", "model-only", "index-first", "model-first", "rank")


def _at(settings: Any, policy: str, **thresholds: Any) -> Any:
    """``settings`` (the server's ``Settings``) with its index policy and thresholds set."""
    index = dataclasses.replace(settings.index, policy=policy, **thresholds)
    return dataclasses.replace(settings, index=index)


def reported_policies(settings: Any, sources: list[str]) -> list[Policy]:
    """The rows of the repository table, all at ``settings``: each source alone, ungated
    and gated, and (with both sources) the combination policies."""
    out = []
    for name in ("model", "index"):
        if name in sources:
            out += [Policy(f"{name}, ungated", _at(settings, "ungated"), (name,)),
                    Policy(f"{name}, gated", _at(settings, f"{name}-only"), (name,))]
    if {"model", "index"} <= set(sources):
        out += [Policy(f"combined: {p}", _at(settings, p))
                for p in ("index-first", "model-first", "rank")]
    return out


def grid(settings: Any, policy: str) -> list[Any]:
    """Every threshold combination that matters to ``policy``."""
    s = settings.index
    match = MIN_MATCH if policy != "model-only" else (s.min_match_tokens,)
    share = MIN_SHARE if policy != "model-only" else (s.min_vote_share,)
    logprob = MODEL_MIN_LOGPROB if policy != "index-only" else (s.model_min_logprob,)
    return [_at(settings, policy, min_match_tokens=m, min_vote_share=v, model_min_logprob=lp)
            for m, v, lp in itertools.product(match, share, logprob)]


def sweep(rows: list[Row], settings: Any, sources: list[str]) -> list[dict[str, Any]]:
    """One line per policy and grid point: its thresholds and metrics."""
    policies = [p for p in SWEPT_POLICIES
                if {"model", "index"} <= set(sources) or p == f"{sources[0]}-only"]
    out = []
    for policy in policies:
        for s in grid(settings, policy):
            m = summarize(rows, Policy(policy, s))
            out.append({"policy": policy, "min_match_tokens": s.index.min_match_tokens,
                        "min_vote_share": s.index.min_vote_share,
                        "model_min_logprob": s.index.model_min_logprob,
                        "exact": m["no_header"]["exact_match"],
                        "exact_n": m["no_header"]["exact"], "shown_n": m["no_header"]["shown"],
                        "precision_low": round(wilson_lower(m["no_header"]["exact"],
                                                            m["no_header"]["shown"]), 4),
                        "precision": m["no_header"]["precision"],
                        "shown": m["no_header"]["shown_rate"],
                        "p95_ms": m["latency_ms"]["p95"]})
    return out


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """Lower end of the 95% Wilson score interval of a proportion (0 when ``n`` is 0)."""
    if n <= 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def choose(lines: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The line with the most exact matches whose precision among shown suggestions
    reaches ``target`` with 95% confidence (the lower end of its Wilson interval, so that
    the choice holds beyond the positions it was made on and a handful of lucky
    suggestions cannot win); ties: the higher precision, then the stricter thresholds."""
    good = [x for x in lines if x["precision_low"] >= target]
    if not good:
        return None
    return max(good, key=lambda x: (x["exact"], x["precision"], x["min_match_tokens"],
                                    x["min_vote_share"], x["model_min_logprob"]))


def best_per_policy(lines: list[dict[str, Any]], target: float) -> list[dict[str, Any]]:
    out = []
    for policy in dict.fromkeys(x["policy"] for x in lines):
        best = choose([x for x in lines if x["policy"] == policy], target)
        if best is not None:
            out.append(best)
    return out


def format_sweep(lines: list[dict[str, Any]], target: float) -> str:
    head = ("| policy | min match tokens | min vote share | model min log-prob | exact | "
            "precision among shown (95% lower end) | shown | p95 ms |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|")
    body = [f"| {x['policy']} | {x['min_match_tokens']} | {x['min_vote_share']:.2f} | "
            f"{x['model_min_logprob']:g} | {x['exact']:.1%} | {x['precision']:.1%} "
            f"({x['precision_low']:.1%}) | {x['shown']:.1%} | {x['p95_ms']:.1f} |"
            for x in best_per_policy(lines, target)]
    return (f"best setting per policy whose precision among shown is >= {target:.0%} with 95% "
            "confidence (license headers excluded)\n\n" + head + "\n" + "\n".join(body))
