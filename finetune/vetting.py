"""Offline vetting for the alignment loop: which findings make a text unsafe to learn from
(the dataset's poisoning defence, the simulator's acceptance, the gate's probe scores), and
the analyzers run with a generous budget so that a finding means the code, never a timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from codeward.analyzers.contract import Finding, VetContext

logger = logging.getLogger(__name__)

STYLE_ANALYZERS = ("style", "ruff")
"""Findings from these analyzers do not make a text unsafe (only security, secrets and
license findings do)."""

STATUS_RULES = "CW-VET-"
"""Pipeline status findings (warming, timeout, error): the code was not checked."""

Vetter = Callable[[str, str, str], str]
"""(prefix, text, suffix) -> rule id of a security/secrets/license finding, or ''."""

_STYLE: set[str] | None = None
_PIPELINE: Any = None


def style_analyzers() -> set[str]:
    """Names of style analyzers (their findings never make a text unsafe)."""
    global _STYLE
    if _STYLE is None:
        from codeward.analyzers.pipeline import discover

        _STYLE = set(STYLE_ANALYZERS)
        _STYLE |= {n for n, cls in discover().items()
                   if getattr(cls, "category", "") == "style"}  # third-party may lack it
    return _STYLE


def flagged_rule(findings: Iterable[Finding | dict[str, Any]], ignore_status: bool = False) -> str:
    """The rule id of the first security/secrets/license finding, or ''. With
    ``ignore_status``, 'not checked' findings do not count (the caller re-vets)."""
    style = style_analyzers()
    for finding in findings or []:
        f = finding.to_dict() if isinstance(finding, Finding) else finding
        who = str(f.get("analyzer") or f.get("category") or f.get("source") or "").lower()
        if who in style or str(f.get("category", "")).lower() == "style":
            continue
        if ignore_status and str(f.get("rule_id", "")).startswith(STATUS_RULES):
            continue
        return str(f.get("rule_id") or who or "finding")
    return ""


def offline_pipeline() -> Any:
    """The analyzers for offline vetting (dataset, gate): a generous budget, warmed up, so
    that a finding means the code and never a timeout."""
    global _PIPELINE
    if _PIPELINE is None:
        from codeward.analyzers.pipeline import Pipeline

        pipeline = Pipeline.from_settings({}, {"budget_ms": 20000.0})
        pipeline.wait_ready(timeout=300)
        _PIPELINE = pipeline
    return _PIPELINE


def make_vetter(enabled: bool) -> Vetter:
    """Re-vet a chosen text with the analyzers (fail closed: a vetting error flags it)."""
    if not enabled:
        return lambda prefix, text, suffix: ""
    try:
        pipeline = offline_pipeline()
    except Exception as exc:
        raise RuntimeError(f"the analyzers cannot start ({exc}); fix them or pass --no-vet "
                           "to rely on serve-time findings only") from exc

    def vet(prefix: str, text: str, suffix: str) -> str:
        try:
            result = pipeline.vet(VetContext(prefix=prefix, suggestion=text, suffix=suffix))
        except Exception:  # fail closed: an unvetted chosen text is not used
            logger.exception("vetting failed; the row is dropped")
            return "vetting error"
        flagged = flagged_rule(result.findings)
        if not flagged and result.action == "block":
            flagged = "blocked"
        return flagged

    return vet
