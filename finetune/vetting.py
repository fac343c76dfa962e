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


def _is_status(f: dict[str, Any]) -> bool:
    return str(f.get("rule_id", "")).startswith(STATUS_RULES)


def flagged_rule(findings: Iterable[Finding | dict[str, Any]], ignore_status: bool = False,
                 unavailable: frozenset[str] = frozenset()) -> str:
    """The rule id of the first security/secrets/license finding, or ''. With
    ``ignore_status``, 'not checked' findings do not count (the caller re-vets); those of
    the ``unavailable`` analyzers (not installed here) never count."""
    style = style_analyzers()
    for finding in findings or []:
        f = finding.to_dict() if isinstance(finding, Finding) else finding
        who = str(f.get("analyzer") or f.get("category") or f.get("source") or "").lower()
        if who in style or str(f.get("category", "")).lower() == "style":
            continue
        if _is_status(f) and (ignore_status or who in unavailable):
            continue
        return str(f.get("rule_id") or who or "finding")
    return ""


def unavailable_analyzers(pipeline: Any) -> frozenset[str]:
    """Analyzers whose optional dependency is not installed (the ``license`` extra)."""
    return frozenset(n for n, state in pipeline.status().items() if state == "unavailable")


def not_checked_notes(names: Iterable[str]) -> list[str]:
    """What the report says, once, about analyzers that could not check anything."""
    from codeward.server.commands import install_hint

    return [f"not checked: {name} is not installed here, so chosen texts were not checked by "
            f"it ({install_hint(name) if name == 'license' else 'install it'}); its 'not "
            "checked' findings do not drop rows" for name in sorted(names)]


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
    """Re-vet a chosen text with the analyzers (fail closed: a vetting error flags it). An
    analyzer that is not installed (no ``license`` extra) flags nothing: it is reported once
    (``not_checked_notes``) instead of dropping every accepted example as 'flagged'."""
    if not enabled:
        return lambda prefix, text, suffix: ""
    try:
        pipeline = offline_pipeline()
    except Exception as exc:
        raise RuntimeError(f"the analyzers cannot start ({exc}); fix them or pass --no-vet "
                           "to rely on serve-time findings only") from exc

    unavailable = unavailable_analyzers(pipeline)
    for note in not_checked_notes(unavailable):
        logger.warning("%s", note)

    def vet(prefix: str, text: str, suffix: str) -> str:
        try:
            result = pipeline.vet(VetContext(prefix=prefix, suggestion=text, suffix=suffix))
        except Exception:  # fail closed: an unvetted chosen text is not used
            logger.exception("vetting failed; the row is dropped")
            return "vetting error"
        flagged = flagged_rule(result.findings, unavailable=unavailable)
        if not flagged and result.action == "block" and not any(
                f.analyzer in unavailable for f in result.findings):
            flagged = "blocked"
        return flagged

    return vet
