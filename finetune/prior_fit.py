"""Fitting the gate prior (``server/index/prior_policy.json``) on the tuning packages:
``codeward eval --tuning --fit-prior FILE``.

The training set is every copy the index offers at every position of the tuning packages
(shown or not), with its decision features computed by the server's own code
(:func:`~.repo_eval.index_considered`: train = serve) and the label "this copy is the exact
next line" (:func:`~.evaluate.score`; its accepted-prefix characters are kept as a second
check). License-header positions are left out, as in the metrics. Model text is collected
and replayed (it keeps its log-probability gate, ``server/index/prior.py`` says why) but not
trained on. The model is the show policy's calibrated logistic regression
(:func:`~.showpolicy.fit_logistic`), each package weighing the same, exported in the
show-policy format with a global model only.

The threshold is chosen on the tuning packages alone with the rule the thresholds gate was
chosen by (:mod:`~.repo_sweep`): the most exact next lines (pooled over the packages,
headers excluded) whose precision among shown suggestions reaches the target with 95%
confidence (Wilson lower end). Leave-one-package-out cross-validation (fit and threshold
on the others, measured on the one left out, beside the thresholds gate on it) says how well
that transfers, before any held-out package is measured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from codeward.server.showpolicy import FORMAT, GLOBAL, Policy, policy_from_dict, vectorize

from .repo_eval import Policy as Replay
from .repo_eval import Row, index_considered, model_considered, summarize
from .repo_sweep import wilson_lower
from .showpolicy import PolicyConfig, fit_logistic

THRESHOLDS = tuple(round(0.05 + i / 100, 2) for i in range(91))
"""The prior thresholds the rule chooses from (0.05 to 0.95)."""


@dataclass
class Example:
    """One candidate the server considers at one position of a tuning package."""

    package: str
    position: int
    source: str
    features: dict[str, Any]
    exact: bool
    accepted: int
    """Accepted-prefix characters of the candidate (:func:`~.evaluate.score`)."""
    gated: bool
    """The thresholds gate's verdict (model text keeps it under the prior)."""


@dataclass
class Package:
    """A tuning package's positions and the candidates considered there."""

    name: str
    rows: list[Row]
    examples: list[Example]
    """The index's copies (what the prior is fitted on) and the model's texts."""

    @property
    def positions(self) -> int:
        """Positions outside license headers (the denominator of the metrics)."""
        return sum(not r.header for r in self.rows)


def training_set(name: str, rows: list[Row], settings: Any) -> Package:
    """Every candidate of every non-header position, in the server's order (copies, then
    model text), with its decision features, label and thresholds verdict (``settings``:
    the server's, under the thresholds gate)."""
    settings = dataclasses.replace(settings, index=dataclasses.replace(
        settings.index, gate="thresholds", policy="index-first"))
    out = []
    for i, row in enumerate(rows):
        if row.header:
            continue
        for c, d in [*index_considered(row, settings), *model_considered(row, settings)]:
            sc = row.score(c.text)
            out.append(Example(name, i, c.source, c.gate["features"], bool(sc["exact"]),
                               int(sc["accepted"]), d.show))
    return Package(name, rows, out)


def fit(packages: Sequence[Package], cfg: PolicyConfig) -> dict[str, Any]:
    """The global model on these packages' copies, each package weighing the same."""
    x, y, w = [], [], []
    for pkg in packages:
        copies = [e for e in pkg.examples if e.source == "index"]
        weight = 1000.0 / max(1, len(copies))
        for e in copies:
            x.append(vectorize(e.features))
            y.append(int(e.exact))
            w.append(weight)
    return fit_logistic(x, y, w, cfg)


def as_policy(model: dict[str, Any], threshold: float, version: str = "prior",
              **info: Any) -> dict[str, Any]:
    """The show-policy JSON; ``renamed``: fitted with the renamed copies too, so the server
    scores every copy with it (``server/index/prior.py``)."""
    return {"format": FORMAT, "version": version, "threshold": threshold,
            "models": {GLOBAL: model}, "renamed": True, **info}


def replay(pkg: Package, score: Callable[[dict[str, Any]], float],
           threshold: float) -> dict[str, int]:
    """What the server shows first at each position of ``pkg`` under ``index-first`` with a
    gate prior of this score and threshold (``prior.gate_copies`` and ``complete.choose``,
    on the copies' scores computed once): the best copy at or above the threshold, else the
    first model text its gate passes. Positions, shown, exact, accepted chars."""
    by_pos: dict[int, list[Example]] = defaultdict(list)
    for e in pkg.examples:
        by_pos[e.position].append(e)
    shown = exact = accepted = 0
    for items in by_pos.values():
        copies = sorted(((score(e.features), e) for e in items if e.source == "index"),
                        key=lambda p: -p[0])
        visible = [e for s, e in copies if s >= threshold] or \
            [e for e in items if e.source != "index" and e.gated]
        if visible:
            first = visible[0]
            shown += 1
            exact += first.exact
            accepted += first.accepted
    return {"positions": pkg.positions, "shown": shown, "exact": exact, "accepted": accepted}


def _metrics(counts: dict[str, int]) -> dict[str, Any]:
    n, shown, exact = counts["positions"], counts["shown"], counts["exact"]
    return {**counts, "exact_match": round(exact / n, 4) if n else 0.0,
            "precision": round(exact / shown, 4) if shown else 0.0,
            "precision_low": round(wilson_lower(exact, shown), 4),
            "shown_rate": round(shown / n, 4) if n else 0.0,
            "accepted_chars": round(counts["accepted"] / n, 2) if n else 0.0}


def choose_threshold(packages: Sequence[Package], model: dict[str, Any],
                     target: float) -> tuple[float, dict[str, Any]]:
    """The threshold with the most exact lines, pooled over ``packages``, whose precision
    among shown reaches ``target`` with 95% confidence (ties: higher precision, then the
    higher threshold); none reaches it: the one with the highest precision."""
    score = policy_from_dict(as_policy(model, 0.0)).score
    lines = []
    for t in THRESHOLDS:
        pooled: dict[str, int] = defaultdict(int)
        for pkg in packages:
            for k, v in replay(pkg, score, t).items():
                pooled[k] += v
        lines.append((t, _metrics(pooled)))
    good = [(m["exact"], m["precision"], t, m) for t, m in lines
            if m["precision_low"] >= target]
    if not good:
        _, t, m = max((m["precision"], t, m) for t, m in lines)
        return t, m
    _, _, t, m = max(good, key=lambda g: g[:3])
    return t, m


def gate_metrics(pkg: Package, settings: Any, prior: Policy | None = None) -> dict[str, Any]:
    """The server path replayed on ``pkg`` (headers excluded) under ``settings``, with
    ``prior`` as the gate prior (default: the shipped one) where they say ``prior``."""
    m = summarize(pkg.rows, Replay("gate", settings, prior=prior))["no_header"]
    return {"positions": m["positions"], "shown": m["shown"], "exact": m["exact"],
            "exact_match": m["exact_match"], "precision": m["precision"],
            "shown_rate": m["shown_rate"], "accepted_chars": m["accepted_chars"]}


def _at_gate(settings: Any, gate: str, threshold: float | None = None) -> Any:
    index = dataclasses.replace(settings.index, gate=gate, policy="index-first")
    if threshold is not None:
        index = dataclasses.replace(index, prior_threshold=threshold)
    return dataclasses.replace(settings, index=index)


def cross_validate(packages: Sequence[Package], settings: Any, cfg: PolicyConfig,
                   target: float) -> list[dict[str, Any]]:
    """Leave one package out: fit and choose the threshold on the others, measure on it."""
    out = []
    for held in packages:
        rest = [p for p in packages if p is not held]
        model = fit(rest, cfg)
        t, _ = choose_threshold(rest, model, target)
        score = policy_from_dict(as_policy(model, t)).score
        out.append({"package": held.name, "threshold": t,
                    "prior": _metrics(replay(held, score, t)),
                    "thresholds": gate_metrics(held, _at_gate(settings, "thresholds"))})
    return out


def fit_prior(packages: Sequence[tuple[str, list[Row]]], settings: Any, target: float,
              cfg: PolicyConfig | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the prior in the show-policy format, the report: cross-validation, per package)."""
    cfg = cfg or PolicyConfig()
    t0 = time.perf_counter()
    pkgs = [training_set(name, rows, settings) for name, rows in packages]
    cv = cross_validate(pkgs, settings, cfg, target) if len(pkgs) > 1 else []
    model = fit(pkgs, cfg)
    threshold, pooled = choose_threshold(pkgs, model, target)
    policy = policy_from_dict(as_policy(model, threshold))
    per_package = []
    for pkg in pkgs:
        fast = _metrics(replay(pkg, policy.score, threshold))
        served = gate_metrics(pkg, _at_gate(settings, "prior", threshold), policy)
        if (served["shown"], served["exact"]) != (fast["shown"], fast["exact"]):
            raise RuntimeError(f"{pkg.name}: the threshold replay ({fast['shown']} shown, "
                               f"{fast['exact']} exact) disagrees with the server path "
                               f"({served['shown']}, {served['exact']})")
        per_package.append({"package": pkg.name, "prior": fast,
                            "thresholds": gate_metrics(pkg, _at_gate(settings, "thresholds"))})
    copies = [e for p in pkgs for e in p.examples if e.source == "index"]
    examples, positives = len(copies), sum(e.exact for e in copies)
    date = time.strftime("%Y-%m-%d", time.gmtime())
    card = (f"codeward gate prior {date}: calibrated logistic regression (scikit-learn) on "
            f"{examples} index copies ({positives} exact next lines) at "
            f"{sum(p.positions for p in pkgs)} positions of {', '.join(p.name for p in pkgs)} "
            f"(license headers excluded); label: the copy is the exact next line; "
            f"threshold {threshold} (most exact lines, pooled, at precision among shown >= "
            f"{target:.0%} with 95% confidence: {pooled['exact_match']:.1%} exact at "
            f"{pooled['precision']:.1%} precision)")
    digest = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()[:8]
    data = as_policy(model, threshold, version=f"prior-{date}-{digest}", card=card, trained={
        "date": date, "threshold": threshold, "packages": [p.name for p in pkgs], "examples": examples,
        "positives": positives, "target_precision": target, "pooled": pooled,
        "per_package": per_package, "cross_validation": cv,
        "seconds": round(time.perf_counter() - t0, 1)})
    return data, data["trained"]


def format_report(report: dict[str, Any]) -> str:
    """The cross-validation and per-package tables (headers excluded)."""
    head = ("| package | threshold | prior: exact | precision among shown | shown | "
            "thresholds gate: exact | precision among shown | shown |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|")

    def line(x: dict[str, Any], t: float) -> str:
        p, g = x["prior"], x["thresholds"]
        return (f"| {x['package']} | {t:.2f} | {p['exact_match']:.1%} | {p['precision']:.1%} | "
                f"{p['shown_rate']:.1%} | {g['exact_match']:.1%} | {g['precision']:.1%} | "
                f"{g['shown_rate']:.1%} |")

    def mean(rows: list[dict[str, Any]], side: str, key: str) -> float:
        return sum(r[side][key] for r in rows) / max(1, len(rows))

    parts = []
    for title, rows, thr in (
            ("leave-one-package-out (fit and threshold on the others)",
             report["cross_validation"], None),
            ("the prior fitted on every tuning package (in-sample)", report["per_package"],
             report["threshold"])):
        if not rows:
            continue
        body = [line(r, r.get("threshold", thr or 0.0)) for r in rows]
        body.append("| **mean** | | " + " | ".join(
            f"{mean(rows, side, k):.1%}" for side in ("prior", "thresholds")
            for k in ("exact_match", "precision", "shown_rate")) + " |")
        parts.append(f"{title}\n\n{head}\n" + "\n".join(body))
    return "\n\n".join(parts)
