"""Credential formats, in one place: what blocks a suggestion (the ``secrets`` analyzer) must
also be redacted from an event (``codeward.server.events.redact``). Both import these
patterns; each keeps its own thresholds (entropy limits, placeholders, what it does with a
match). ``tests/analyzers/test_secret_patterns.py`` checks every kind against both.

Each entry is ``kind -> pattern``; ``kind`` is the redaction placeholder's name
(``<redacted:github-token>``) and the analyzer's label. A pattern with a group named ``v``
marks the secret part of its match (the password of a URL); the analyzer ignores
placeholders there (``postgres://user:${PASSWORD}@host``).
"""

from __future__ import annotations

import re

CREDENTIALS: dict[str, re.Pattern[str]] = {kind: re.compile(rx, flags) for kind, rx, flags in [
    ("private-key", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                    r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S),
    ("url-credentials", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"']+:(?P<v>[^\s@\"']+)@", 0),
    ("aws-access-key",
     r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b", 0),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})", 0),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}", 0),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0),
    ("slack-webhook",
     r"https://hooks\.slack\.com/services/T[A-Z0-9]{4,}/B[A-Z0-9]{4,}/[A-Za-z0-9]{8,}", 0),
    ("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", 0),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", 0),
    ("openai-key", r"\bsk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{20,}", 0),
    ("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", 0),
    ("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}\b", 0),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", 0),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b", 0),
    ("pypi-token", r"\bpypi-[A-Za-z0-9_-]{50,}", 0),
    ("sendgrid-key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", 0),
    ("twilio-key", r"\b(?:SK|AC)[0-9a-fA-F]{32}\b", 0),
    ("bearer-token", r"(?i)\b(?:bearer|token|authorization:)\s+[A-Za-z0-9._~+/-]{16,}=*", 0),
]}
"""Well-known credential formats (tokens, keys, credentials in URLs)."""


def secret_part(match: re.Match[str]) -> str:
    """The secret in a match of :data:`CREDENTIALS`: group ``v`` if the pattern has one."""
    return match.group("v") if "v" in match.re.groupindex else match.group(0)
