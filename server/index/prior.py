"""The gate prior: what decides on the index's copies when no learned policy is promoted.

``prior_policy.json`` (package data, beside this module) is a show policy in the registry's
format (``codeward.server.showpolicy``): a calibrated logistic regression over the decision
features of every copy the index offers, trained on the tuning packages of ``codeward eval
--repo`` (never a held-out one) to predict whether the copy is the exact next line, by
``codeward eval --tuning --fit-prior FILE`` (``codeward.finetune.prior_fit``). Under
``index.gate = "prior"`` (the default) a copy is shown when its score is at least
``index.prior_threshold``, best first, in place of the hand thresholds; model text keeps its
log-probability gate (``index.model_min_logprob``: the shipped model's text is too rarely
right to teach how far a stronger model can be trusted) and ``index.policy`` combines the
two as before. A promoted per-project policy decides everything instead. A prior that is
missing or cannot be read is logged once and the thresholds gate decides
(``showpolicy.load_prior``, which reads it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from ..showpolicy import Policy, load_prior
from .gate import GateDecision


def prior_for(index: Any, prior: Policy | None = None) -> Policy | None:
    """The gate prior (``prior``, default: the shipped one) at ``index.prior_threshold``
    (``index``: the index settings); None where the thresholds gate decides: ``index.gate
    = "thresholds"``, the index off, ``ungated``, or a prior that cannot be loaded."""
    if not index.enabled or index.policy == "ungated" or index.gate != "prior":
        return None
    prior = prior or load_prior()
    if prior is None or prior.threshold == index.prior_threshold:
        return prior
    return dataclasses.replace(prior, threshold=index.prior_threshold)


C = TypeVar("C")


def gate_copies(copies: Sequence[tuple[C, GateDecision]],
                prior: Policy | None) -> list[tuple[C, GateDecision]]:
    """The index's (copy, decision) pairs with the prior's verdicts, best score first: shown
    at or above its threshold (every copy when the prior was fitted with renamed copies, its
    ``renamed`` field; else the verbatim ones, and the renamed ones after them by their own
    thresholds). Each copy's gate inputs keep the thresholds' inputs and get
    the prior's version, score, threshold and verdict (``shown``). No prior: unchanged."""
    if prior is None:
        return list(copies)
    every = bool(prior.info.get("renamed"))  # fitted with the renamed copies too
    scored = [(c, d, prior.score(d.inputs.get("features") or {})) for c, d in copies
              if every or not d.inputs.get("abstracted")]
    scored.sort(key=lambda t: -t[2])
    out = []
    for choice, decision, score in scored:
        show = score >= prior.threshold
        decision.inputs.update(policy=prior.version, policy_score=round(score, 4),
                               policy_threshold=prior.threshold, shown=show)
        out.append((choice, GateDecision(show=show, inputs=decision.inputs)))
    return out if every else out + _renamed(copies, any(d.show for _, d in out))


def _renamed(copies: Sequence[tuple[C, GateDecision]],
             verbatim_shown: bool) -> list[tuple[C, GateDecision]]:
    """Renamed copies (``abstracted``) after the verbatim ones: the prior was not trained on
    them, so their own thresholds decide (``renamed_passed``), where no verbatim copy is
    shown under the prior."""
    out = []
    for choice, decision in copies:
        if decision.inputs.get("abstracted"):
            show = bool(decision.inputs.get("renamed_passed")) and not verbatim_shown
            decision.inputs.update(verbatim_shown=verbatim_shown, shown=show)
            out.append((choice, GateDecision(show=show, inputs=decision.inputs)))
    return out
