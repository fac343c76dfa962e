"""One confidence gate for every completion source, and the policy that combines them.

Show nothing rather than something probably wrong: an index candidate passes on its match
length and vote share, a model candidate on its mean token log-probability. The inputs of
every decision are returned so the completion event can record them (never any text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..settings import IndexSettings
from .model import IndexCandidate


@dataclass
class GateDecision:
    show: bool
    inputs: dict[str, Any] = field(default_factory=dict)
    """source, match_tokens, vote_share, mean_logprob, min_logprob, threshold."""


def gate_index(candidate: IndexCandidate, settings: IndexSettings) -> GateDecision:
    inputs = candidate.gate_inputs()
    show = (candidate.match_tokens >= settings.min_match_tokens
            and candidate.vote_share >= settings.min_vote_share)
    inputs.update(min_match_tokens=settings.min_match_tokens,
                  min_vote_share=settings.min_vote_share, shown=show)
    return GateDecision(show=show, inputs=inputs)


def gate_model(logprobs: Sequence[float] | None, settings: IndexSettings) -> GateDecision:
    """``logprobs``: the log-probability of each generated token (None: not available,
    which the gate treats as not confident unless the policy is ``ungated``)."""
    if not logprobs:
        mean = lo = None
        show = settings.policy == "ungated"
    else:
        mean = sum(logprobs) / len(logprobs)
        lo = min(logprobs)
        show = mean >= settings.model_min_logprob
    inputs = {"source": "model", "mean_logprob": None if mean is None else round(mean, 4),
              "min_logprob": None if lo is None else round(lo, 4),
              "tokens": len(logprobs or ()), "model_min_logprob": settings.model_min_logprob,
              "shown": show}
    return GateDecision(show=show, inputs=inputs)


def combine(index: Sequence[tuple[Any, GateDecision]], model: Sequence[tuple[Any, GateDecision]],
            settings: IndexSettings) -> list[Any]:
    """The candidates to show, in order, from (candidate, decision) pairs of each source.

    ``index-first``: the confident index candidates, else the confident model ones;
    ``model-first``: the other way round; ``rank``: all confident ones, index first when its
    match is at least twice the threshold, else model first; ``index-only`` /
    ``model-only``: one source, gated; ``ungated``: everything, index first.
    """
    policy = settings.policy
    if policy == "ungated":
        return [c for c, _ in index] + [c for c, _ in model]
    good_index = [c for c, d in index if d.show]
    good_model = [c for c, d in model if d.show]
    if policy == "index-only":
        return good_index
    if policy == "model-only":
        return good_model
    if policy == "index-first":
        return good_index or good_model
    if policy == "model-first":
        return good_model or good_index
    strong = any(d.show and d.inputs.get("match_tokens", 0) >= 2 * settings.min_match_tokens
                 for _, d in index)
    return good_index + good_model if strong or not good_model else good_model + good_index
