"""One confidence gate for every completion source, and the policy that combines them.

Show nothing rather than something probably wrong: an index candidate passes on its match
length (how long depends on whether its occurrences agree and whether it is a copy from the
document itself) and vote share, a model candidate on its mean token log-probability. The inputs of
every decision are returned so the completion event can record them (never any text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..settings import IndexSettings
from .lexer import lex
from .model import IndexCandidate


@dataclass
class GateDecision:
    show: bool
    inputs: dict[str, Any] = field(default_factory=dict)
    """What the gate read and decided (the completion event records it; never text):
    index: source, match_tokens, vote_share, occurrences, agreed, same_file, nearest,
    line_tokens, crosses_line_start, whole_line, copy_chars, the thresholds, shown;
    model: source, mean_logprob, min_logprob, tokens, model_min_logprob, shown."""


AGREEMENT_SHARE = 0.9
"""Vote share at which the occurrences of a match count as agreeing on its continuation."""


def gate_index(candidate: IndexCandidate, settings: IndexSettings,
               prefix: str = "", verbatim_shown: bool = False) -> GateDecision:
    """Show a copy when its match is long enough for where it comes from, and most of the
    occurrences' votes are for it (``min_vote_share``):

    - at least ``agreed_min_match_tokens`` tokens when two or more occurrences continue
      the same way and hold ``AGREEMENT_SHARE`` of the votes (the project repeats it);
    - else at least ``same_file_min_match_tokens`` for a copy from the document itself (a
      line this file already has: a sibling in a list, the last call of the same shape,
      is more often the wrong one than a line of another file);
    - else at least ``min_match_tokens``.

    ``prefix`` (the text before the cursor) only adds inputs for the record: how much of
    the cursor line the match can cover and whether the copy is a whole line. A renamed
    copy (``candidate.abstracted``) has its own thresholds (:func:`_gate_abstract`)."""
    if candidate.abstracted:
        return _gate_abstract(candidate, settings, prefix, verbatim_shown)
    inputs = candidate.gate_inputs()
    agreed = candidate.occurrences >= 2 and candidate.vote_share >= AGREEMENT_SHARE
    same_file = candidate.provenance.source == "current"
    if agreed:
        needed = settings.agreed_min_match_tokens
    elif same_file:
        needed = settings.same_file_min_match_tokens
    else:
        needed = settings.min_match_tokens
    show = candidate.match_tokens >= needed and candidate.vote_share >= settings.min_vote_share
    inputs.update(_line_inputs(candidate, prefix))
    inputs.update(agreed=agreed, same_file=same_file, nearest=candidate.provenance.source,
                  needed_match_tokens=needed, min_match_tokens=settings.min_match_tokens,
                  same_file_min_match_tokens=settings.same_file_min_match_tokens,
                  agreed_min_match_tokens=settings.agreed_min_match_tokens,
                  min_vote_share=settings.min_vote_share, shown=show)
    return GateDecision(show=show, inputs=inputs)


def _gate_abstract(candidate: IndexCandidate, settings: IndexSettings, prefix: str,
                   verbatim_shown: bool) -> GateDecision:
    """A renamed copy is shown only where no verbatim copy is (``verbatim_shown``), when
    its match up to the renaming is at least ``abstract_min_match_tokens``, its vote share
    at least ``abstract_min_vote_share``, at least ``abstract_min_occurrences`` occurrences
    re-fill to it, at most ``abstract_max_unbound`` of its names
    are unbound, and it is whole (not ``cut``) unless ``abstract_cut``."""
    s = settings
    passed = (candidate.match_tokens >= s.abstract_min_match_tokens
            and candidate.vote_share >= s.abstract_min_vote_share
            and candidate.occurrences >= s.abstract_min_occurrences
            and candidate.unbound <= s.abstract_max_unbound
            and (s.abstract_cut or not candidate.cut))
    show = passed and not verbatim_shown
    inputs = candidate.gate_inputs()
    inputs.update(_line_inputs(candidate, prefix))
    inputs.update(nearest=candidate.provenance.source, verbatim_shown=verbatim_shown,
                  renamed_passed=passed,
                  needed_match_tokens=s.abstract_min_match_tokens,
                  abstract_min_vote_share=s.abstract_min_vote_share,
                  abstract_min_occurrences=s.abstract_min_occurrences,
                  abstract_max_unbound=s.abstract_max_unbound, shown=show)
    return GateDecision(show=show, inputs=inputs)


def _line_inputs(candidate: IndexCandidate, prefix: str) -> dict[str, Any]:
    """Where the match lies relative to the cursor line: ``line_tokens`` (complete tokens
    of the cursor line before the cursor), ``crosses_line_start`` (the match reaches back past
    the line's start), ``whole_line`` (the cursor is at the start of the line's code, so
    the copy is a whole line) and ``copy_chars``."""
    line = prefix[prefix.rfind("\n") + 1:]
    tokens = len(lex(line).strings) if line.strip() else 0
    if tokens and not line.endswith((" ", "\t")):
        tokens -= 1  # the last token is still being typed: not part of the match
    return {"line_tokens": tokens, "crosses_line_start": candidate.match_tokens > tokens,
            "whole_line": not line.strip(), "copy_chars": len(candidate.text.split("\n", 1)[0])}


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
