"""Choosing the confidence thresholds: a sweep over the kept answers of the TUNING
repository (never a held-out one), and the policies reported at a given setting.

First the index's gate alone (``index-only``) over every grid point of its thresholds (the
minimum match length for a copy from another file, from the document itself and for one
its occurrences agree on, and the vote share); then, at the index thresholds chosen there,
every combination policy over the model's minimum mean token log-probability (and the
model alone). The chosen setting is the one with the most exact next lines (license headers
excluded) among those whose precision among shown suggestions reaches the target with 95%
confidence.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from .repo_eval import Policy, Row, summarize

MIN_MATCH = (4, 6, 8, 10, 12, 16, 24)
SAME_FILE_MIN_MATCH = (8, 12, 16, 24, 32)
AGREED_MIN_MATCH = (4, 5, 6, 8)
"""Not 3 or fewer: such a match is punctuation and a line start (``):`` and indentation),
which two files agree on by chance."""
MIN_SHARE = (0.0, 0.5, 0.7, 0.9)
ABSTRACT_MIN_MATCH = (6, 8, 10, 12, 16, 20, 24, 32)
ABSTRACT_MIN_SHARE = (0.0, 0.5, 0.7, 0.9)
ABSTRACT_MIN_OCCURRENCES = (1, 2, 3)
ABSTRACT_MAX_UNBOUND = (0, 1, 2)
ABSTRACT_CUT = (False, True)
MODEL_MIN_LOGPROB = (-100.0, -1.0, -0.5, -0.35, -0.25, -0.15, -0.1)
"""-100 lets every model suggestion through."""
COMBINED_POLICIES = ("model-only", "index-first", "model-first", "rank")
INDEX_KEYS = ("min_match_tokens", "same_file_min_match_tokens", "agreed_min_match_tokens",
              "min_vote_share")
ABSTRACT_KEYS = ("abstract_min_match_tokens", "abstract_min_vote_share",
                 "abstract_min_occurrences", "abstract_max_unbound", "abstract_cut")


def _at(settings: Any, policy: str, gate: str = "thresholds", **thresholds: Any) -> Any:
    """``settings`` (the server's ``Settings``) with its index policy, gate (the thresholds
    unless said: what a sweep of them measures) and thresholds set."""
    index = dataclasses.replace(settings.index, policy=policy, gate=gate, **thresholds)
    return dataclasses.replace(settings, index=index)


GATES = ("thresholds", "prior")


def reported_policies(settings: Any, sources: list[str]) -> list[Policy]:
    """The rows of the repository table, all at ``settings``: each source alone, ungated
    and gated, and (with both sources) the combination policies; each gated row under the
    thresholds gate and under the gate prior (``name [gate]``)."""
    out = []
    for name in ("model", "index"):
        if name in sources:
            out.append(Policy(f"{name}, ungated", _at(settings, "ungated"), (name,)))
            out += [Policy(f"{name}, gated [{g}]", _at(settings, f"{name}-only", g), (name,))
                    for g in GATES]
    if "index" in sources:
        out += [Policy("index (verbatim), ungated", _at(settings, "ungated"), ("index",),
                       copies="verbatim"),
                *[Policy(f"index (verbatim), gated [{g}]", _at(settings, "index-only", g),
                         ("index",), copies="verbatim") for g in GATES],
                Policy("index (abstracted), ungated", _at(settings, "ungated"), ("index",),
                       copies="abstracted"),
                Policy("index (abstracted), gated", _at(settings, "index-only"), ("index",),
                       copies="abstracted")]
    if {"model", "index"} <= set(sources):
        out += [Policy(f"combined: {p} [{g}]", _at(settings, p, g))
                for p in ("index-first", "model-first", "rank") for g in GATES]
    return out


def index_grid(settings: Any) -> list[Any]:
    """Every combination of the index gate's thresholds (policy ``index-only``)."""
    return [_at(settings, "index-only", min_match_tokens=m, same_file_min_match_tokens=f,
                agreed_min_match_tokens=a, min_vote_share=v)
            for m, f, a, v in itertools.product(MIN_MATCH, SAME_FILE_MIN_MATCH,
                                                AGREED_MIN_MATCH, MIN_SHARE)]


def abstract_grid(settings: Any) -> list[Any]:
    """Every combination of the renamed copies' thresholds (policy ``index-only``, verbatim
    copies at ``settings``' thresholds)."""
    return [_at(settings, "index-only", abstract_min_match_tokens=m, abstract_min_vote_share=v,
                abstract_min_occurrences=o, abstract_max_unbound=u, abstract_cut=c)
            for m, v, o, u, c in itertools.product(ABSTRACT_MIN_MATCH, ABSTRACT_MIN_SHARE,
                                                   ABSTRACT_MIN_OCCURRENCES,
                                                   ABSTRACT_MAX_UNBOUND, ABSTRACT_CUT)]


def _renamed_line(rows: list[Row], s: Any) -> dict[str, Any]:
    """A line of the renamed copies' stage: the index's metrics with them, and theirs alone
    (``renamed_precision``: a renamed copy must reach the target precision by itself, not
    ride on the verbatim copies' precision)."""
    line = _line("index-only", s, summarize(rows, Policy("index-only", s)))
    alone = summarize(rows, Policy("renamed", s, ("index",), copies="abstracted"))["no_header"]
    line.update(renamed_exact_n=alone["exact"], renamed_shown_n=alone["shown"],
                renamed_precision=alone["precision"])
    return line


def _line(policy: str, s: Any, m: dict[str, Any]) -> dict[str, Any]:
    nh = m["no_header"]
    return {"policy": policy, **{k: getattr(s.index, k) for k in INDEX_KEYS + ABSTRACT_KEYS},
            "model_min_logprob": s.index.model_min_logprob,
            "exact": nh["exact_match"], "exact_n": nh["exact"], "shown_n": nh["shown"],
            "precision_low": round(wilson_lower(nh["exact"], nh["shown"]), 4),
            "precision": nh["precision"], "shown": nh["shown_rate"],
            "p95_ms": m["latency_ms"]["p95"]}


def sweep(rows: list[Row], settings: Any, sources: list[str],
          target: float = 0.6) -> list[dict[str, Any]]:
    """One line per policy and grid point: its thresholds and metrics."""
    out = []
    index_at = settings.index
    if "index" in sources:
        lines = [_line("index-only (verbatim)", s,
                       summarize(rows, Policy("index-only", s, copies="verbatim")))
                 for s in index_grid(settings)]
        out += lines
        best = choose(lines, target)
        if best is not None:
            index_at = dataclasses.replace(index_at, **{k: best[k] for k in INDEX_KEYS})
        base = dataclasses.replace(settings, index=index_at)
        lines = [_renamed_line(rows, s) for s in abstract_grid(base)]
        out += lines
        best = choose(lines, target)
        if best is not None:
            index_at = dataclasses.replace(index_at, **{k: best[k] for k in ABSTRACT_KEYS})
    if "model" in sources:
        base = dataclasses.replace(settings, index=index_at)
        policies = COMBINED_POLICIES if "index" in sources else ("model-only",)
        for policy in policies:
            for lp in MODEL_MIN_LOGPROB:
                s = _at(base, policy, model_min_logprob=lp)
                out.append(_line(policy, s, summarize(rows, Policy(policy, s))))
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
    suggestions cannot win), and whose renamed copies, if it shows any, reach ``target`` on
    their own (a point estimate: they are too few for an interval); ties: the higher
    precision, then the stricter thresholds."""
    good = [x for x in lines if x["precision_low"] >= target and (
        not x.get("renamed_shown_n") or x["renamed_precision"] >= target)]
    if not good:
        return None
    return max(good, key=lambda x: (x["exact"], x["precision"],
                                    *(x[k] for k in INDEX_KEYS),
                                    x.get("abstract_min_match_tokens", 0),
                                    x.get("abstract_min_vote_share", 0),
                                    x.get("abstract_min_occurrences", 0),
                                    -x.get("abstract_max_unbound", 0),
                                    not x.get("abstract_cut", False),
                                    x["model_min_logprob"]))


def best_per_policy(lines: list[dict[str, Any]], target: float) -> list[dict[str, Any]]:
    out = []
    for policy in dict.fromkeys(x["policy"] for x in lines):
        best = choose([x for x in lines if x["policy"] == policy], target)
        if best is not None:
            out.append(best)
    return out


def format_sweep(lines: list[dict[str, Any]], target: float) -> str:
    head = ("| policy | min match tokens | same file | agreed | min vote share | "
            "renamed: min match / vote share / occurrences / max unbound / cut | "
            "model min log-prob | exact | precision among shown (95% lower end) | shown | "
            "p95 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    body = [f"| {x['policy']} | {x['min_match_tokens']} | {x['same_file_min_match_tokens']} | "
            f"{x['agreed_min_match_tokens']} | {x['min_vote_share']:.2f} | "
            f"{x['abstract_min_match_tokens']} / {x['abstract_min_vote_share']:.2f} / "
            f"{x['abstract_min_occurrences']} / {x['abstract_max_unbound']} / "
            f"{'yes' if x['abstract_cut'] else 'no'} | "
            f"{x['model_min_logprob']:g} | {x['exact']:.1%} | {x['precision']:.1%} "
            f"({x['precision_low']:.1%}) | {x['shown']:.1%} | {x['p95_ms']:.1f} |"
            for x in best_per_policy(lines, target)]
    return (f"best setting per policy whose precision among shown is >= {target:.0%} with 95% "
            "confidence (license headers excluded; the combination policies at the index "
            "thresholds chosen for index-only)\n\n" + head + "\n" + "\n".join(body))
