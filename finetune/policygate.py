"""The show/rank policy's promotion gate: a candidate policy against the serving one (the
server's default when none is promoted) on held-out logs (the latest ``holdout_share`` of
positions) and on held-out files (``heldout_files_share`` of the documents: code it has not
seen). Neither the acceptance rate of shown suggestions nor the accepted-and-kept
characters per position may drop, judged on paired bootstrap intervals over positions
(``simreplay.paired_change``), and the held-out log-likelihood must beat a constant
predictor's (:func:`gate_policy`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from codeward.server.showpolicy import Policy

from .showpolicy import Example, PolicyConfig, log_likelihood, metrics, outcomes, replay


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
    """(candidate's, serving's replay metrics, their paired change) on held-out examples:
    the relative change of the acceptance rate of shown and the change of kept
    chars/position, each with its 95% bootstrap interval over positions
    (``simreplay.paired_change``)."""
    from .simreplay import paired_change

    oc, ob = (outcomes(exs, positions, shows(p)) for p in (candidate, serving))
    cand, base = metrics(oc, positions), metrics(ob, positions)
    cand["log_likelihood"] = log_likelihood(
        exs, lambda e: candidate.score(e.features, e.project), cfg.keep_share)
    if positions < 2 or not exs:
        return cand, base, {}
    return cand, base, paired_change(oc, ob, cfg.seed)


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
