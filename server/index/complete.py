"""The index as a completion source beside the model: candidates from both, each through
the one confidence gate, combined by ``index.policy``. Plain functions on plain data; the
completion service (``server/completion.py``) calls them and vets what they choose."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import postprocess
from ..settings import Settings
from .gate import GateDecision, combine, gate_index, gate_model
from .live import ProjectIndex
from .model import IndexCandidate, Provenance

logger = logging.getLogger(__name__)


@dataclass
class Choice:
    """A candidate text before vetting, with where it came from and how sure we are."""

    text: str
    source: str
    """``index`` or ``model``."""
    raw: str
    gate: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance | None = None
    logprobs: list[float] = field(default_factory=list)
    """The model's log-probability of each token it generated (model text only)."""


def index_choices(index: ProjectIndex | None, uri: str, prefix: str, suffix: str,
                  settings: Settings, multiline: bool) -> list[tuple[Choice, GateDecision]]:
    """Copies from the index, cleaned like model text and gated."""
    s = settings.index
    if index is None or not s.enabled or s.policy == "model-only":
        return []
    try:
        found = index.suggest(uri, prefix, suffix, multiline=multiline,
                              max_lines=settings.completion.max_lines)
    except Exception:  # contained: the model still answers
        logger.exception("index lookup failed")
        return []
    return gate_copies(clean_copies(found, prefix, suffix, settings), prefix, settings)


def clean_copies(found: Sequence[IndexCandidate], prefix: str, suffix: str,
                 settings: Settings) -> list[tuple[str, IndexCandidate]]:
    """(cleaned text, candidate) of each distinct copy that survives the clean-up."""
    out: list[tuple[str, IndexCandidate]] = []
    seen: set[str] = set()
    for cand in found:
        text = postprocess.clean(cand.text, prefix, suffix, multiline=cand.multiline,
                                 max_lines=settings.completion.max_lines)
        if text and text not in seen:
            seen.add(text)
            out.append((text, cand))
    return out


def gate_copies(cleaned: Sequence[tuple[str, IndexCandidate]], prefix: str,
                settings: Settings) -> list[tuple[Choice, GateDecision]]:
    """Verbatim copies first; a renamed copy is gated knowing whether one of them shows."""
    out: list[tuple[Choice, GateDecision]] = []
    verbatim_shown = False
    for text, cand in sorted(cleaned, key=lambda tc: tc[1].abstracted):
        decision = gate_index(cand, settings.index, prefix, verbatim_shown)
        verbatim_shown |= decision.show and not cand.abstracted
        out.append((Choice(text, "index", cand.text, decision.inputs, cand.provenance),
                    decision))
    return out


def needs_model(index: Sequence[tuple[Choice, GateDecision]], settings: Settings) -> bool:
    """Whether the model must run: not when the policy would show the index's copies
    anyway (``index-first`` with a confident copy, or ``index-only``)."""
    policy = settings.index.policy if settings.index.enabled else "ungated"
    if policy == "index-only":
        return False
    return not (policy == "index-first" and any(d.show for _, d in index))


def model_choices(texts: Sequence[str], logprobs: Sequence[Sequence[float]], prefix: str,
                  suffix: str, settings: Settings,
                  multiline: bool) -> list[tuple[Choice, GateDecision]]:
    return gate_generated(clean_generated(texts, logprobs, prefix, suffix, settings, multiline),
                          settings)


def clean_generated(texts: Sequence[str], logprobs: Sequence[Sequence[float]], prefix: str,
                    suffix: str, settings: Settings,
                    multiline: bool) -> list[tuple[str, str, list[float]]]:
    """(cleaned text, raw text, token log-probs) of each distinct generated text."""
    out: list[tuple[str, str, list[float]]] = []
    seen: set[str] = set()
    for i, raw in enumerate(texts):
        text = postprocess.clean(raw, prefix, suffix, multiline=multiline,
                                 max_lines=settings.completion.max_lines)
        if text and text not in seen:
            seen.add(text)
            out.append((text, raw, list(logprobs[i]) if i < len(logprobs) else []))
    return out


def gate_generated(cleaned: Sequence[tuple[str, str, list[float]]],
                   settings: Settings) -> list[tuple[Choice, GateDecision]]:
    out: list[tuple[Choice, GateDecision]] = []
    for text, raw, lps in cleaned:
        decision = gate_model(lps or None, _model_gate(settings))
        out.append((Choice(text, "model", raw, decision.inputs, logprobs=lps), decision))
    return out


def _model_gate(settings: Settings) -> Any:
    """With the index off, the model is shown as before unless a threshold was asked for."""
    return settings.index if settings.index.enabled else \
        type(settings.index)(policy="ungated")


def choose(index: Sequence[tuple[Choice, GateDecision]],
           model: Sequence[tuple[Choice, GateDecision]], settings: Settings) -> list[Choice]:
    policy = settings.index if settings.index.enabled else type(settings.index)(
        policy="ungated")
    return list(combine(index, model, policy))
