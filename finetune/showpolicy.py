"""The show/rank policy, learning side: accept/reject logs -> a calibrated logistic
regression per project (pooled data of every project as its prior) -> JSON the server
scores with (``codeward.server.showpolicy``).

*Examples* are the candidates that were shown (a show, accept or dismiss event; in a store
whose clients send no show events, every served one), with the decision features their
completion event recorded (``gate["features"]``). The label is *accepted and kept*: an
accept whose last survival measurement still holds at least ``keep_share`` of the accepted
characters (an accept not measured yet counts as kept).

The policy starts from the shipped gate prior (``server/index/prior_policy.json``, what
decides on copies when no policy is promoted): the prior's logit of each copy is one of
its features (``prior_logit``), and the policy records the prior's version (a server that
ships another prior rejects it: retrain). ``--policy-no-prior`` fits without it.

*Replay* scores a policy on logged positions: the policy shows the candidates at or above
its threshold; the position counts as accepted when the candidate the developer accepted is
among them. What the server shows without a promoted policy (:func:`serving_default`)
replays the serving baseline. The promotion gate is ``policygate.gate_policy``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeward.server.showpolicy import (
    FORMAT,
    GLOBAL,
    load_prior,
    policy_from_dict,
    vectorize,
)

from .flags import option

logger = logging.getLogger(__name__)


@dataclass
class PolicyConfig:
    min_examples: int = option(40, "shown candidates needed to train a policy at all",
                               flag="--policy-min-examples")
    min_positives: int = option(5, "accepted-and-kept candidates needed at least",
                                flag="--policy-min-positives")
    min_project_examples: int = option(40, "shown candidates a project needs for a model "
                                           "of its own (else the global one serves it)",
                                       flag="--policy-min-project-examples")
    prior_weight: float = option(0.25, "weight of other projects' examples in a project's "
                                       "model (the pooled prior; 0 = the project alone)",
                                 flag="--policy-prior-weight")
    c: float = option(1.0, "inverse L2 regularisation strength of the logistic regression",
                      flag="--policy-c")
    holdout_share: float = option(0.3, "latest share of positions held out for the gate",
                                  flag="--policy-holdout-share")
    heldout_files_share: float = option(0.2, "share of the documents whose logs the policy "
                                             "never trains on and must not do worse on (0: "
                                             "none)", flag="--policy-heldout-files-share")
    keep_share: float = option(0.5, "share of accepted characters still there for an "
                                    "accept to count as kept",
                               flag="--policy-keep-share")
    kept_margin: float = option(0.15, "the threshold is the one with the best acceptance "
                                      "rate whose kept characters per position on the "
                                      "training logs beat the serving policy's by this share "
                                      "(a safety margin for held-out code)",
                                flag="--policy-kept-margin")
    margin: float = option(0.1, "tolerance of the gate: a held-out metric (acceptance "
                                "rate of shown, kept chars/position) drops when its change "
                                "is below -margin of the serving value, or when the 95 "
                                "percent bootstrap interval of the change is below zero",
                           flag="--policy-margin")
    min_shown: int = option(20, "held-out positions each side must show for the gate to "
                                "judge their acceptance rate (fewer: refused, too little "
                                "evidence)", flag="--policy-min-shown")
    seed: int = option(0, "seed of the cross-validation folds and the gate's bootstrap",
                       flag="--policy-seed")
    on_prior: bool = option(True, "do not fit on top of the shipped gate prior (by default "
                                  "its logit of each copy is a feature, so a policy starts "
                                  "from what the prior knows)",
                            flag="--policy-no-prior")

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_share < 1.0:
            raise ValueError(f"PolicyConfig.holdout_share={self.holdout_share}: must be "
                             "between 0 and 1 (exclusive)")
        if not 0.0 <= self.heldout_files_share < 1.0:
            raise ValueError(f"PolicyConfig.heldout_files_share={self.heldout_files_share}: "
                             "must be in [0, 1)")
        if not 0.0 <= self.margin < 1.0 or self.min_shown < 1:
            raise ValueError("PolicyConfig.margin must be in [0, 1) and "
                             "PolicyConfig.min_shown >= 1")
        if self.prior_weight < 0 or self.c <= 0:
            raise ValueError("PolicyConfig.prior_weight must be >= 0 and PolicyConfig.c > 0")


@dataclass
class Example:
    completion_id: str
    index: int
    at: float
    project: str
    features: dict[str, Any]
    accepted: bool = False
    kept: int = 0
    """Characters of the accepted text still there at its last measurement."""
    accepted_chars: int = 0
    measured: bool = False
    gated: bool = True
    """Whether the server shows it without a promoted policy (:func:`serving_default`;
    else the confidence gate's verdict logged with it, ``gate["shown"]``)."""
    file: str = ""
    """The document it was made in (the events' ``uri_hash``)."""

    def label(self, keep_share: float) -> int:
        if not self.accepted or self.accepted_chars <= 0:
            return 0
        return int(not self.measured or self.kept >= keep_share * self.accepted_chars)


class NotEnoughExamples(Exception):
    pass


def examples(rows: Iterable[dict[str, Any]]) -> tuple[list[Example], int]:
    """(shown candidates with features, logged positions) from event rows. Positions count
    every logged completion (withheld ones too), the denominator of kept chars/position."""
    cands: dict[tuple[str, int], Example] = {}
    shown: set[tuple[str, int]] = set()
    positions: set[str] = set()
    has_show = False
    feedback: list[dict[str, Any]] = []
    for row in rows:
        kind = row.get("type")
        cid = str(row.get("completion_id") or "")
        if kind in ("completion", "withheld"):
            positions.add(cid)
        if kind == "completion" and not row.get("blocked"):
            raw = row.get("gate")
            gate: dict[str, Any] = raw if isinstance(raw, dict) else {}
            features = gate.get("features")
            if isinstance(features, dict):
                key = (cid, int(row.get("candidate_index") or 0))
                cands[key] = Example(cid, key[1], float(row.get("at") or 0),
                                     str(row.get("repo_hash") or ""), features,
                                     gated=bool(gate.get("shown", True)),
                                     file=str(row.get("uri_hash") or ""))
        elif kind in ("show", "accept", "dismiss", "survival"):
            has_show = has_show or kind == "show"
            feedback.append(row)
    for row in feedback:
        key = (str(row.get("completion_id") or ""), int(row.get("candidate_index") or 0))
        ex = cands.get(key)
        if ex is None:
            continue
        kind = row.get("type")
        if kind != "survival":
            shown.add(key)
        if kind == "accept":
            ex.accepted = True
            ex.accepted_chars = max(ex.accepted_chars, int(row.get("accepted_length") or 0))
        elif kind == "survival" and float(row.get("after_s") or 0) >= 0:
            ex.measured, ex.kept = True, int(row.get("kept_chars") or 0)
    out = [ex for key, ex in cands.items() if key in shown or not has_show]
    out.sort(key=lambda e: (e.at, e.completion_id, e.index))
    serving_default(out)
    return out, len(positions)


def serving_default(exs: Sequence[Example], settings: Any = None) -> None:
    """Set each example's ``gated`` to what the server shows at its position without a
    promoted policy (``simreplay.default_shown``; ``settings``: the index settings, default
    the defaults): an ``ungated`` exploration run logs the thresholds' verdict, a run under
    the prior the prior's. Positions whose copies were logged without the prior's inputs
    keep their logged verdicts."""
    from codeward.server.index.gate import GateDecision
    from codeward.server.settings import IndexSettings

    from .simreplay import default_shown, logged_with_prior

    s = settings or IndexSettings()
    by_pos: dict[str, list[Example]] = defaultdict(list)
    for e in exs:
        by_pos[e.completion_id].append(e)
    for group in by_pos.values():
        copies = [e for e in group if e.features.get("source") == "index"]
        if not copies or not all(logged_with_prior(e.features) for e in copies):
            continue
        pairs = [(e, GateDecision(e.gated, {"features": e.features, "renamed_passed": e.gated,
                                             "abstracted": e.features.get("abstracted")}))
                 for e in copies]
        others = [(e, GateDecision(e.gated, {})) for e in group
                  if e.features.get("source") != "index"]
        shown = {id(e) for e in default_shown(pairs, others, s)}
        for e in group:
            e.gated = id(e) in shown


def split(exs: Sequence[Example], positions: int, share: float,
          ) -> tuple[list[Example], list[Example], int, int]:
    """Train and held-out examples by time (whole positions), and each part's positions."""
    order = sorted({(e.at, e.completion_id) for e in exs})
    cut = int(round(len(order) * (1 - share)))
    late = {cid for _, cid in order[cut:]}
    train = [e for e in exs if e.completion_id not in late]
    held = [e for e in exs if e.completion_id in late]
    held_positions = int(round(positions * len(late) / max(1, len(order))))
    return train, held, positions - held_positions, held_positions


def positions_by_file(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Logged positions (completion requests, withheld ones too) per document."""
    seen: dict[str, set[str]] = defaultdict(set)
    for r in (r for r in rows if r.get("type") in ("completion", "withheld")):
        seen[str(r.get("uri_hash") or "")].add(str(r.get("completion_id") or ""))
    return {f: len(ids) for f, ids in seen.items()}


def split_files(exs: Sequence[Example], by_file: dict[str, int], share: float, seed: int = 0,
                ) -> tuple[list[Example], list[Example], int, int]:
    """(examples of the other files, of the held-out files, each part's positions): ``share``
    of the documents, at least one, picked by a seeded hash (stable cycle to cycle); none
    with fewer than two documents or ``share`` 0."""
    files = sorted(set(by_file) | {e.file for e in exs})
    n = min(len(files) - 1, max(1, round(share * len(files)))) if share > 0 else 0
    held_files = set(sorted(files, key=lambda f: hashlib.sha256(
        f"{seed}:{f}".encode()).hexdigest())[:max(0, n)])
    rest = [e for e in exs if e.file not in held_files]
    held = [e for e in exs if e.file in held_files]
    held_positions = sum(by_file.get(f, 0) for f in held_files)
    return rest, held, sum(by_file.values()) - held_positions, held_positions


def outcomes(exs: Sequence[Example], positions: int, show: Callable[[Example], bool],
             ) -> dict[str, Any]:
    """Per logged position (``positions`` of them: the ones without a shown candidate are
    zeros), as numpy arrays: whether ``show`` shows a candidate there, whether the developer
    accepted one of those shown, and the characters of it still kept (the last survival
    measurement; not measured yet: the accepted length). ``insecure`` is zeros (the logs
    have no analyzer verdict on withheld text); the arrays are ``simreplay.summarize``'s."""
    import numpy as np

    by_pos: dict[str, list[Example]] = defaultdict(list)
    for e in exs:
        by_pos[e.completion_id].append(e)
    n = max(positions, len(by_pos))
    cols = {k: np.zeros(n) for k in ("shown", "accepted", "kept", "insecure")}
    for k, group in enumerate(by_pos.values()):
        visible = [e for e in group if show(e)]
        if not visible:
            continue
        cols["shown"][k] = 1.0
        good = [e for e in visible if e.accepted]
        if good:
            best = max(good, key=lambda e: e.kept if e.measured else e.accepted_chars)
            cols["accepted"][k] = 1.0
            cols["kept"][k] = best.kept if best.measured else best.accepted_chars
    return cols


def replay(exs: Sequence[Example], positions: int, show: Callable[[Example], bool],
           keep_share: float = 0.5) -> dict[str, float]:
    """Acceptance rate of shown suggestions and accepted-and-kept characters per position
    when ``show`` decides which logged candidates are shown (the position counts as
    accepted when the candidate the developer accepted is among them)."""
    return metrics(outcomes(exs, positions, show), positions)


def metrics(o: dict[str, Any], positions: int) -> dict[str, Any]:
    """:func:`replay`'s metrics from :func:`outcomes`."""
    shown, accepted = int(o["shown"].sum()), int(o["accepted"].sum())
    return {"positions": positions, "shown": shown, "accepted": accepted,
            "acceptance_rate": accepted / shown if shown else 0.0,
            "kept_chars_per_position": float(o["kept"].sum()) / positions if positions else 0.0}


def log_likelihood(exs: Sequence[Example], score: Callable[[Example], float],
                   keep_share: float) -> float:
    """Mean log-likelihood of the labels under ``score`` (probabilities)."""
    total = 0.0
    for e in exs:
        p = min(1 - 1e-6, max(1e-6, score(e)))
        total += math.log(p) if e.label(keep_share) else math.log(1 - p)
    return total / max(1, len(exs))


def fit_logistic(x: list[dict[str, float]], y: list[int], w: list[float], cfg: PolicyConfig,
         ) -> dict[str, Any]:
    """One logistic regression, Platt-calibrated on cross-validated logits, exported as
    weights on the raw named features (scaling and calibration folded in)."""
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    vec = DictVectorizer(sparse=False)
    X = vec.fit_transform(x)
    Y, W = np.asarray(y), np.asarray(w, dtype=float)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.c, max_iter=2000))
    folds = min(5, int(Y.sum()), int(len(Y) - Y.sum()))
    a, b = 1.0, 0.0
    if folds >= 2:
        cv = StratifiedKFold(folds, shuffle=True, random_state=cfg.seed)
        z = cross_val_predict(pipe, X, Y, cv=cv, method="decision_function",
                              params={"logisticregression__sample_weight": W})
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), Y,
                                                            sample_weight=W)
        a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    pipe.fit(X, Y, logisticregression__sample_weight=W)
    scaler, lr = pipe[0], pipe[1]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    coef = lr.coef_[0] / scale
    intercept = float(lr.intercept_[0] - (coef * scaler.mean_).sum())
    weights = {name: round(float(a * c), 6) for name, c in zip(vec.feature_names_, coef,
                                                               strict=True) if c != 0}
    return {"intercept": round(a * intercept + b, 6), "weights": weights,
            "examples": len(Y), "positives": int(Y.sum())}


def _threshold(policy: dict[str, Any], train: Sequence[Example], positions: int,
               baseline: dict[str, float], cfg: PolicyConfig) -> float:
    """The threshold with the best acceptance rate of shown suggestions (the target: learn
    when not to suggest) among those whose kept characters per position on the training
    logs beat the baseline's by ``kept_margin`` (a safety margin for held-out code) and
    whose acceptance rate is at least the baseline's; else kept at least the baseline's;
    else the one keeping most."""
    draft = policy_from_dict({**policy, "threshold": 0.0})
    scores = {(e.completion_id, e.index): draft.score(e.features, e.project) for e in train}
    replays = []
    for t in [i / 100 for i in range(2, 96)]:
        def shown(e: Example, t: float = t) -> bool:
            return scores[(e.completion_id, e.index)] >= t

        replays.append((t, replay(train, positions, shown, cfg.keep_share)))
    kept0, acc0 = baseline["kept_chars_per_position"], baseline["acceptance_rate"]
    for kept_floor, acc_floor in ((kept0 * (1 + cfg.kept_margin), acc0), (kept0, acc0),
                                  (kept0, 0.0)):
        ok = [(r["acceptance_rate"], r["kept_chars_per_position"], -t) for t, r in replays
              if r["shown"] and r["kept_chars_per_position"] >= kept_floor
              and r["acceptance_rate"] >= acc_floor]
        if ok:
            return -max(ok)[2]
    return max(replays, key=lambda p: (p[1]["kept_chars_per_position"], -p[0]))[0]


@dataclass
class Trained:
    policy: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)


def train_policy(exs: Sequence[Example], positions: int, cfg: PolicyConfig,
                 version: str = "") -> Trained:
    """Fit the global and per-project models on the training part; pick the threshold; the
    held-out part is left for :func:`gate_policy`. Raises ``NotEnoughExamples``."""
    t0 = time.perf_counter()
    train, _, train_positions, _ = split(exs, positions, cfg.holdout_share)
    labels = [e.label(cfg.keep_share) for e in train]
    if len(train) < cfg.min_examples or sum(labels) < cfg.min_positives \
            or sum(labels) == len(labels):
        raise NotEnoughExamples(
            f"{len(train)} shown candidates with features in the training part, "
            f"{sum(labels)} accepted and kept: a policy needs at least {cfg.min_examples} "
            f"and {cfg.min_positives} (and some not accepted)")
    prior = load_prior() if cfg.on_prior else None
    base = prior.models[GLOBAL] if prior is not None else None
    x = [vectorize(e.features, base) for e in train]
    models = {GLOBAL: fit_logistic(x, labels, [1.0] * len(train), cfg)}
    counts: dict[str, int] = defaultdict(int)
    for e in train:
        counts[e.project] += 1
    for project, n in sorted(counts.items()):
        own = [e.project == project for e in train]
        own_labels = [y for y, o in zip(labels, own, strict=True) if o]
        if not project or n < cfg.min_project_examples or len(counts) < 2 \
                or not 0 < sum(own_labels) < len(own_labels):
            continue
        weights = [1.0 if o else cfg.prior_weight for o in own]
        models[project] = fit_logistic(x, labels, weights, cfg)
    policy = {"format": FORMAT, "version": version, "threshold": 0.5, "models": models,
              "keep_share": cfg.keep_share, "prior": prior.version if prior else None}
    baseline = replay(train, train_positions, lambda e: e.gated, cfg.keep_share)
    policy["threshold"] = _threshold(policy, train, train_positions, baseline, cfg)
    report = {"examples": len(train), "positives": sum(labels), "positions": train_positions,
              "projects": sorted(k for k in models if k != GLOBAL),
              "threshold": policy["threshold"], "seconds": round(time.perf_counter() - t0, 3)}
    return Trained(policy, report)
