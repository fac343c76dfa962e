"""A cheap look before the model runs under a confidence gate.

The shipped model's gate lets through well under 1% of positions, yet running it costs a
full prompt (about 700 tokens: most of a single-line request's time). A short prompt
(``engine.precheck_tokens``) predicts the full one's mean token log-probability well: on
the tuning package, every position whose full run passed the gate had a short run within
``engine.precheck_margin`` of the threshold. So the short run goes first, and only when
it comes within the margin of the gate does the full prompt run and the gate decide on
it, as before; otherwise nothing is shown and the gate's inputs say why (``precheck``).
Plain functions on plain data; ``completion.run_completion`` calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .settings import Settings


def budget(settings: Settings, multiline: bool) -> int:
    """Prompt tokens of the pre-check run; 0 when there is none: off, a multi-line
    request, several candidates (the sampled ones may pass where the greedy one fails),
    no confidence gate, or a prompt no longer than the pre-check's."""
    s = settings
    tokens = s.engine.precheck_tokens
    if not tokens or multiline or s.engine.candidates != 1 or not s.index.enabled or \
            s.index.policy in ("ungated", "index-only"):
        return 0
    return tokens if tokens < s.context.max_prompt_tokens else 0


def withheld(logprobs: Sequence[float], settings: Settings) -> dict[str, Any] | None:
    """The gate inputs of a request the pre-check withholds; None when the full run must
    decide (the short run came within the margin of the threshold, or has no scores)."""
    if not logprobs:
        return None
    mean = sum(logprobs) / len(logprobs)
    threshold = settings.index.model_min_logprob
    margin = settings.engine.precheck_margin
    if mean >= threshold - margin:
        return None
    return {"source": "model", "precheck": True, "mean_logprob": round(mean, 4),
            "min_logprob": round(min(logprobs), 4), "tokens": len(logprobs),
            "model_min_logprob": threshold, "precheck_margin": margin, "shown": False}
