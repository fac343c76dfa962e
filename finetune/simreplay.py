"""Show decisions replayed on one simulated run, with bootstrap confidence intervals.

``codeward simulate --decisions FILE`` with every candidate shown (``index.policy =
"ungated"``) records, per completion request, every item the server returned and what the
simulated developer would do with each of them (accept, partly accept, dismiss; the kept
characters); the server's event store holds the same candidates' decision features and the
confidence gate's verdict (``gate["shown"]``). Replaying a show decision on those requests
gives what that decision would have shown, and what the developer would have taken from it,
on the *same* requests and candidate texts:

* ``gate``: what the server shows without a promoted policy: the copies by the gate prior
  (``index.prior``, the default) or the thresholds' logged verdicts, model text by its
  logged verdict, combined by ``index.gate.combine`` with the default ``index.policy``;
* a learned policy: the candidates at or above its threshold, best score first, the model's
  only where the server would have run it (``showpolicy.model_needed``).

The developer takes the best shown item (accepted before dismissed, most kept characters,
earlier first: the simulator's own rule); a request counts for the source and the findings of
the item shown first. Comparisons are paired (the same requests), and every rate has a 95%
percentile bootstrap interval over requests (``scipy.stats.bootstrap``, resampling the
requests with the same indices for both sides of a comparison).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from codeward.server.index.gate import GateDecision, combine
from codeward.server.index.prior import gate_copies, prior_for
from codeward.server.settings import IndexSettings
from codeward.server.showpolicy import Policy, model_needed

C = TypeVar("C")


@dataclass
class Cand:
    index: int
    source: str
    action: str
    kept: int
    insecure: bool
    gated: bool
    gate: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass
class Request:
    file: str
    project: str
    cands: list[Cand]
    at: int = -1
    """The cursor offset in the file (-1: a decisions file written before it was logged)."""


def load(decisions: Path, rows: Iterable[dict[str, Any]]) -> list[Request]:
    """Requests of a ``--decisions`` file joined with the event rows of the same run (the
    candidates' logged gate inputs and features); a candidate without its event is left out."""
    logged: dict[tuple[str, int], dict[str, Any]] = {}
    for ev in rows:
        if ev.get("type") == "completion" and not ev.get("blocked"):
            logged[(str(ev.get("completion_id")), int(ev.get("candidate_index") or 0))] = ev
    out = []
    for line in Path(decisions).read_text("utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        cands, project = [], ""
        for item in rec["items"]:
            found = logged.get((rec["id"], int(item["index"])))
            if found is None:
                continue
            gate = dict(found.get("gate") or {})
            project = str(found.get("repo_hash") or "")
            cands.append(Cand(int(item["index"]), str(item["source"]), str(item["action"]),
                              int(item["kept"]), bool(item["insecure"]),
                              bool(gate.get("shown", True)), gate))
        out.append(Request(rec["file"], project, cands, int(rec.get("at", -1))))
    return out


def paired(a: Sequence[Request], b: Sequence[Request],
           ) -> tuple[list[Request], list[Request], int]:
    """The requests two runs of the same part share, in the same order (by file and cursor
    offset), and how many only one of them made: a run whose model had a multi-line
    suggestion accepted skips the points it covered. Runs logged without offsets pair by
    order and must have the same number of requests (else ``ValueError``)."""
    if any(r.at < 0 for r in (*a, *b)):
        if len(a) != len(b):
            raise ValueError(f"{len(a)} and {len(b)} requests, without offsets to pair them")
        return list(a), list(b), 0
    keys = {(r.file, r.at) for r in a} & {(r.file, r.at) for r in b}
    left = [r for r in a if (r.file, r.at) in keys]
    right = {(r.file, r.at): r for r in b}
    return left, [right[(r.file, r.at)] for r in left], len(a) + len(b) - 2 * len(keys)


def default_shown(copies: Sequence[tuple[C, GateDecision]],
                  others: Sequence[tuple[C, GateDecision]], settings: IndexSettings,
                  prior: bool = True) -> list[C]:
    """What the server shows without a promoted policy, from (candidate, logged decision)
    pairs: the copies by the gate prior (``prior_for``: under ``index.gate = "prior"``, the
    default; ``prior=False``: by their logged verdicts), the other sources' by their logged
    verdicts, combined by ``index.policy`` (``completion.run_completion``'s order)."""
    return list(combine(gate_copies(copies, prior_for(settings) if prior else None), others,
                        settings))


def logged_with_prior(features: dict[str, Any]) -> bool:
    """Whether a copy's logged features are those the gate prior scores (runs since the
    prior: every numeric gate input is a feature, ``whole_line`` among them)."""
    return "whole_line" in features


def gate_shows(settings: IndexSettings | None = None, prior: bool = True,
               ) -> Callable[[Request], list[Cand]]:
    """What the server shows without a promoted policy (:func:`default_shown`) on a
    replayed request."""
    s = settings or IndexSettings()

    def show(req: Request) -> list[Cand]:
        pairs = [(c, GateDecision(c.gated, dict(c.gate))) for c in req.cands]
        return default_shown([p for p in pairs if p[0].source == "index"],
                             [p for p in pairs if p[0].source != "index"], s, prior)
    return show


def has_prior_features(reqs: Sequence[Request]) -> bool:
    """Whether a run's copies were logged with the gate prior's inputs."""
    return any(logged_with_prior(c.gate.get("features") or {}) for r in reqs
               for c in r.cands if c.source == "index")


def headroom(reqs: Sequence[Request], settings: IndexSettings | None = None,
             floors: Sequence[float] = (1.0, 0.95, 0.9)) -> dict[str, Any]:
    """How much acceptance a show threshold can buy over the default gate on these requests:
    the gate prior at every threshold from 0.02 to 0.95 (what the server would show with
    ``index.prior_threshold`` set there); per ``floor``, the one with the best acceptance
    rate of shown whose kept characters per position are at least ``floor`` times the
    default's (its threshold, acceptance change relative, kept change); and the perfect
    filter, the default's shown requests the developer took (the bound of any policy that
    only withholds: the same kept characters)."""
    import dataclasses

    s = settings or IndexSettings()
    base = outcomes(reqs, gate_shows(s))
    acc0 = float(_ratio(base["accepted"], base["shown"], -1))
    kept0 = float(base["kept"].mean()) if len(reqs) else 0.0
    curve = []
    for t in [i / 100 for i in range(2, 96)]:
        o = outcomes(reqs, gate_shows(dataclasses.replace(s, prior_threshold=t)))
        curve.append((t, float(_ratio(o["accepted"], o["shown"], -1)),
                      float(o["kept"].mean()) if len(reqs) else 0.0, int(o["shown"].sum())))
    out: dict[str, Any] = {"acceptance_rate": round(acc0, 4), "kept_per_position": round(kept0, 4),
                           "best": {}}
    for floor in floors:
        ok = [c for c in curve if c[3] and c[2] >= floor * kept0 - 1e-12]
        if ok and acc0 > 0:
            t, acc, kept, shown = max(ok, key=lambda c: (c[1], -c[0]))
            out["best"][str(floor)] = {"threshold": t, "acceptance_change": round(acc / acc0 - 1, 4),
                                       "kept_change": round(kept - kept0, 4), "shown": shown}
    shown = int(base["shown"].sum())
    out["perfect_filter"] = {"shown": int(base["accepted"].sum()), "of": shown,
                             "acceptance_change": round(1 / acc0 - 1, 4) if acc0 else None}
    return out


def policy_shows(policy: Policy, settings: IndexSettings | None = None,
                 ) -> Callable[[Request], list[Cand]]:
    s = settings or IndexSettings()

    def show(req: Request) -> list[Cand]:
        copies = [(c, None) for c in req.cands if c.source == "index"]
        run_model = model_needed(policy, req.project, copies, s.policy)
        pool = [c for c in req.cands if run_model or c.source == "index"]
        ranked = policy.rank([(c, c.gate.get("features") or {}) for c in pool], req.project)
        return [c for c, _, shown in ranked if shown]
    return show


def outcomes(reqs: Sequence[Request], show: Callable[[Request], list[Cand]]) -> dict[str, Any]:
    """Per request: shown, accepted, kept characters, insecure (numpy arrays)."""
    import numpy as np

    cols: dict[str, list[float]] = {k: [] for k in ("shown", "accepted", "kept", "insecure")}
    for req in reqs:
        visible = show(req)
        best = max(range(len(visible)), key=lambda k: (visible[k].action != "dismiss",
                                                       visible[k].kept, -k), default=None)
        took = best is not None and visible[best].action != "dismiss"
        cols["shown"].append(float(bool(visible)))
        cols["accepted"].append(float(took))
        cols["kept"].append(float(visible[best].kept) if took and best is not None else 0.0)
        cols["insecure"].append(float(bool(visible) and visible[0].insecure))
    return {k: np.asarray(v) for k, v in cols.items()}


def _ratio(num: Any, den: Any, axis: int) -> Any:
    import numpy as np

    n, d = num.sum(axis=axis), den.sum(axis=axis)
    return np.divide(n, d, out=np.zeros_like(n, dtype=float), where=d > 0)


METRICS: dict[str, Callable[[dict[str, Any], Any, int], Any]] = {
    "acceptance_rate": lambda o, i, ax: _ratio(o["accepted"][i], o["shown"][i], ax),
    "kept_per_position": lambda o, i, ax: o["kept"][i].mean(axis=ax),
    "shown_per_position": lambda o, i, ax: o["shown"][i].mean(axis=ax),
    "insecure_rate": lambda o, i, ax: _ratio(o["insecure"][i], o["shown"][i], ax),
}


def _ci(stat: Callable[[Any, int], Any], n: int, seed: int, resamples: int,
        ) -> tuple[float, float]:
    import numpy as np
    from scipy.stats import bootstrap

    if n < 2:
        return (float("nan"), float("nan"))
    res = bootstrap((np.arange(n),), lambda i, axis=-1: stat(i.astype(int), axis),
                    vectorized=True, n_resamples=resamples, method="percentile",
                    confidence_level=0.95, rng=np.random.default_rng(seed))
    return (round(float(res.confidence_interval.low), 4),
            round(float(res.confidence_interval.high), 4))


acc, kept = METRICS["acceptance_rate"], METRICS["kept_per_position"]


def summarize(arms: dict[str, dict[str, Any]], base: str, seed: int = 0,
              resamples: int = 2000) -> dict[str, Any]:
    """Every arm's metrics with 95% intervals, and each arm against ``base`` (paired): the
    relative change of the acceptance rate of shown suggestions and the change of kept
    characters per position, with their intervals."""
    import numpy as np

    n = len(arms[base]["shown"])
    out: dict[str, Any] = {}
    for name, o in arms.items():
        every = np.arange(n)
        row: dict[str, Any] = {"requests": n, "shown": int(o["shown"].sum()),
                               "accepted": int(o["accepted"].sum()),
                               "kept_chars": int(o["kept"].sum())}
        for key, f in METRICS.items():
            row[key] = round(float(f(o, every, -1)), 4)
            row[key + "_ci"] = _ci(partial(f, o), n, seed, resamples)
        if name != base:
            row.update(paired_change(o, arms[base], seed, resamples))
        out[name] = row
    return out


def paired_change(o: dict[str, Any], b: dict[str, Any], seed: int = 0,
                  resamples: int = 2000) -> dict[str, Any]:
    """Arm ``o`` against arm ``b`` on the same requests: the relative change of the
    acceptance rate of shown suggestions and the change of kept characters per position,
    each with its paired 95% bootstrap interval (the same resampled requests for both)."""
    import numpy as np

    n = len(b["shown"])
    every = np.arange(n)

    def rel(i: Any, ax: int) -> Any:
        a0 = acc(b, i, ax)
        return np.divide(acc(o, i, ax) - a0, a0, out=np.zeros_like(a0), where=a0 > 0)

    def diff(i: Any, ax: int) -> Any:
        return kept(o, i, ax) - kept(b, i, ax)

    return {"acceptance_change": round(float(rel(every, -1)), 4),
            "acceptance_change_ci": _ci(rel, n, seed, resamples),
            "kept_change": round(float(diff(every, -1)), 4),
            "kept_change_ci": _ci(diff, n, seed, resamples)}


def read_rows(source: str) -> list[dict[str, Any]]:
    """Event rows of a run: a store URL or a .jsonl file (``dataset.iter_events``)."""
    from .dataset import iter_events

    return list(iter_events(source))
