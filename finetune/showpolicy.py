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
among them. The confidence gate's own verdict (``gate["shown"]``) replays the serving
baseline. The gate (``gate_policy``) requires, on held-out logs (the latest
``holdout_share`` of positions) and on held-out files (``heldout_files_share`` of the
documents: code it has not seen), that neither the acceptance rate of shown suggestions nor
the accepted-and-kept characters per position drop below the serving policy's.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from codeward.server.showpolicy import (
    FORMAT,
    GLOBAL,
    Policy,
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
    promoted policy (``settings``: the index settings, default the defaults): copies by
    the gate prior where their features carry its inputs (an ``ungated`` exploration run
    logs the thresholds' verdict, a run under the prior the prior's), model text by its
    logged verdict, combined by ``index.policy`` (``index-first``: no model text where a
    copy is shown), as ``simreplay.gate_shows`` replays it. Positions logged without the
    prior's inputs keep their logged verdicts."""
    from codeward.server.index.gate import GateDecision, combine
    from codeward.server.index.prior import gate_copies, prior_for
    from codeward.server.settings import IndexSettings

    s = settings or IndexSettings()
    prior = prior_for(s)
    if prior is None:
        return
    by_pos: dict[str, list[Example]] = defaultdict(list)
    for e in exs:
        by_pos[e.completion_id].append(e)
    for group in by_pos.values():
        copies = [e for e in group if e.features.get("source") == "index"]
        if not copies or not all("whole_line" in e.features for e in copies):
            continue
        pairs = [(e, GateDecision(e.gated, {"features": e.features, "renamed_passed": e.gated,
                                             "abstracted": e.features.get("abstracted")}))
                 for e in copies]
        others = [(e, GateDecision(e.gated, {})) for e in group
                  if e.features.get("source") != "index"]
        shown = {id(e) for e in combine(gate_copies(pairs, prior), others, s)}
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
    o = outcomes(exs, positions, show)
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


def constant_score(exs: Sequence[Example], keep_share: float) -> float:
    """The constant predictor's probability: the base rate (what a policy must beat)."""
    labels = [e.label(keep_share) for e in exs]
    return (sum(labels) + 0.5) / (len(labels) + 1.0)


def shows(policy: Policy | None) -> Callable[[Example], bool]:
    """A policy's show decision on a logged candidate (None: the server's default,
    :func:`serving_default`)."""
    if policy is None:
        return lambda e: e.gated
    return lambda e: policy.score(e.features, e.project) >= policy.threshold


def evaluate(policy: Policy | None, exs: Sequence[Example], positions: int,
             keep_share: float) -> dict[str, Any]:
    """Replay metrics of a policy (None: the server's default) and, for a policy, the
    log-likelihood of the labels."""
    out: dict[str, Any] = replay(exs, positions, shows(policy), keep_share)
    if policy is not None:
        out["log_likelihood"] = log_likelihood(
            exs, lambda e: policy.score(e.features, e.project), keep_share)
    return out


@dataclass
class PolicyGate:
    passed: bool
    candidate: dict[str, Any]
    serving: dict[str, Any]
    constant_log_likelihood: float
    reasons: list[str] = field(default_factory=list)
    files_candidate: dict[str, Any] = field(default_factory=dict)  # on held-out files
    files_serving: dict[str, Any] = field(default_factory=dict)  # (empty: none held out)
    change: dict[str, Any] = field(default_factory=dict)
    """Candidate against serving on the held-out logs, paired: relative change of the
    acceptance rate of shown, change of kept chars/position, 95% bootstrap intervals."""
    files_change: dict[str, Any] = field(default_factory=dict)  # the same, held-out files

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [("acceptance rate of shown", "acceptance_rate", "{:.1%}"),
                ("kept chars / position", "kept_chars_per_position", "{:.2f}"),
                ("positions shown", "shown", "{}")]
        lines = [f"      {'held-out logs':<28}{'serving':>12}{'candidate':>12}  change [95% CI]"]
        sides = [("", self.serving, self.candidate, self.change)]
        if self.files_candidate:
            sides.append(("held-out files: ", self.files_serving, self.files_candidate,
                          self.files_change))
        for where, serv, cand, change in sides:
            for title, key, fmt in rows:
                lines.append(f"      {where + title:<28}{fmt.format(serv.get(key, 0)):>12}"
                             f"{fmt.format(cand.get(key, 0)):>12}  {_change(change, key)}")
        lines.append(f"      {'log-likelihood (constant)':<28}"
                     f"{self.constant_log_likelihood:>12.4f}"
                     f"{self.candidate.get('log_likelihood', 0):>12.4f}")
        verdict = "passed" if self.passed else "refused: " + "; ".join(self.reasons)
        return "\n".join([*lines, f"      policy gate {verdict}"])


def _change(change: dict[str, Any], key: str) -> str:
    name, fmt = {"acceptance_rate": ("acceptance_change", "{:+.0%}"),
                 "kept_chars_per_position": ("kept_change", "{:+.2f}")}.get(key, ("", ""))
    if name not in change:
        return ""
    lo, hi = change[name + "_ci"]
    return f"{fmt.format(change[name])} [{fmt.format(lo)}, {fmt.format(hi)}]"


def compare(candidate: dict[str, Any], serving: dict[str, Any], seed: int = 0,
            ) -> dict[str, Any]:
    """Paired comparison of two arms' :func:`outcomes` on the same positions: the relative
    change of the acceptance rate of shown and the change of kept chars/position, each with
    its 95% percentile bootstrap interval over positions (``simreplay.summarize``)."""
    from .simreplay import summarize

    row = summarize({"serving": serving, "candidate": candidate}, "serving", seed)["candidate"]
    return {k: row[k] for k in ("acceptance_change", "acceptance_change_ci", "kept_change",
                                "kept_change_ci")}


def _judge(cand: dict[str, Any], base: dict[str, Any], change: dict[str, Any],
           cfg: PolicyConfig, where: str) -> list[str]:
    """Why the candidate may do worse than serving (empty: it does not). The acceptance rate
    is judged only where both show at least ``min_shown`` positions (fewer refuses: too
    little evidence); a metric whose paired change is below ``-margin`` of the serving
    value drops. A tolerance, not a test: at a project's scale of logs (tens of shown
    positions) a 95% interval spans tens of percent either way, so requiring it to clear
    the margin would refuse every policy, and a zero tolerance decides on noise;
    :func:`_harm` refuses a significant drop."""
    reasons = []
    if min(cand["shown"], base["shown"]) < cfg.min_shown:
        reasons.append(f"{where}too few positions shown to judge the acceptance rate "
                       f"({base['shown']} serving, {cand['shown']} candidate; "
                       f"--policy-min-shown {cfg.min_shown})")
    elif change["acceptance_change"] < -cfg.margin:
        reasons.append(f"{where}acceptance rate of shown {cand['acceptance_rate']:.1%} vs "
                       f"{base['acceptance_rate']:.1%}: change "
                       f"{_change(change, 'acceptance_rate')} is below -{cfg.margin:.0%}")
    kept0 = base["kept_chars_per_position"]
    if change["kept_change"] < -cfg.margin * kept0 - 1e-9:
        reasons.append(f"{where}kept chars/position {cand['kept_chars_per_position']:.2f} vs "
                       f"{kept0:.2f}: change {_change(change, 'kept_chars_per_position')} is "
                       f"below -{cfg.margin:.0%}")
    return reasons


def _side(candidate: Policy, serving: Policy | None, exs: Sequence[Example], positions: int,
          cfg: PolicyConfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(candidate's, serving's replay metrics, their paired change) on held-out examples."""
    cand, base = (evaluate(p, exs, positions, cfg.keep_share) for p in (candidate, serving))
    if positions < 2 or not exs:
        return cand, base, {}
    change = compare(outcomes(exs, positions, shows(candidate)),
                     outcomes(exs, positions, shows(serving)), cfg.seed)
    return cand, base, change


def _harm(change: dict[str, Any], where: str) -> list[str]:
    """A significant drop on one side: the whole 95% interval of a change below zero."""
    return [f"{where}{title} drops: change {_change(change, key)}"
            for title, key, name in (("acceptance rate of shown", "acceptance_rate",
                                      "acceptance_change"),
                                     ("kept chars/position", "kept_chars_per_position",
                                      "kept_change"))
            if change and change[name + "_ci"][1] < 0]


def gate_policy(candidate: Policy, serving: Policy | None, train: Sequence[Example],
                held: Sequence[Example], held_positions: int, cfg: PolicyConfig,
                files: tuple[Sequence[Example], int] | None = None) -> PolicyGate:
    """Against the serving policy (the server's default when none is promoted), on the
    held-out logs and on the logs of held-out ``files`` (examples, positions) the candidate
    was not trained on: neither the acceptance rate of shown suggestions nor the
    accepted-and-kept characters per position may drop: on both sides pooled, not by more
    than ``margin``, with at least ``min_shown`` shown positions (:func:`_judge`); on each
    side and pooled, no significant drop (:func:`_harm`: a paired 95% bootstrap interval
    below zero). On held-out logs the labels' log-likelihood must beat the constant
    predictor's."""
    cand, base, change = _side(candidate, serving, held, held_positions, cfg)
    reasons = [] if held else ["no held-out examples"]
    reasons += _harm(change, "held-out logs: ")
    p = constant_score(train, cfg.keep_share)
    const = log_likelihood(held, lambda e: p, cfg.keep_share)
    if held and cand["log_likelihood"] <= const:
        reasons.append(f"log-likelihood {cand['log_likelihood']:.4f} not above the "
                       f"constant's {const:.4f}")
    pooled, pooled_positions = list(held), held_positions
    fc: dict[str, Any] = {}
    fs: dict[str, Any] = {}
    fch: dict[str, Any] = {}
    if files is not None and files[0]:
        fc, fs, fch = _side(candidate, serving, files[0], files[1], cfg)
        reasons += _harm(fch, "held-out files: ")
        pooled, pooled_positions = pooled + list(files[0]), pooled_positions + files[1]
    if pooled_positions >= 2 and pooled:
        pc, ps, pch = _side(candidate, serving, pooled, pooled_positions, cfg)
        where = "held-out logs and files: " if fc else ""
        reasons = _judge(pc, ps, pch, cfg, where) + (_harm(pch, where) if fc else []) + reasons
    return PolicyGate(not reasons, cand, base, const, reasons, fc, fs, change, fch)
