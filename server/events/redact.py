"""Redaction of secrets and personal data before anything is written.

Three detectors, whose matches are replaced by typed placeholders such as
``<redacted:aws-access-key>``, ``<redacted:email>``, ``<redacted:high-entropy>``:

1. the credential formats the secrets analyzer blocks (``codeward.analyzers.secret_patterns``:
   multi-line PEM private keys, URLs with credentials, cloud and API tokens, ...) and our
   personal-data patterns (:data:`PII`: e-mail and IP addresses, card numbers);
2. every detect-secrets plugin (AWS, GitHub, Slack, Stripe, JWT, keyword assignments such
   as ``password = "..."``, quoted high-entropy strings, ...), run line by line;
3. an entropy check on unquoted tokens (random-looking strings of 20+ characters).

:func:`redact_parts` redacts several pieces that were contiguous in the document (prefix
window, suggestion, suffix window) as one text, so that a secret split across a boundary is
still found; each piece gets the placeholder for its share of a match. Over-redaction is
accepted; leaking is not.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from codeward.analyzers.secret_patterns import CREDENTIALS

logger = logging.getLogger(__name__)

PII: list[tuple[str, re.Pattern[str]]] = [(kind, re.compile(rx, flags)) for kind, rx, flags in [
    ("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b", 0),
    ("ipv6", r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])"
             r"|(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:?){1,6}(?![0-9A-Fa-f:])", 0),
    ("ipv4", r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])", 0),
    ("card-number", r"\b(?:\d[ -]?){13,19}\b", 0),
]]
PATTERNS: list[tuple[str, re.Pattern[str]]] = [*CREDENTIALS.items(), *PII]
"""Everything redacted by pattern: the shared credential formats, then personal data."""

KEYWORD_HINT = re.compile(r"(?i)key|pass|pwd|secret|contrase")
TOKEN = re.compile(r"[A-Za-z0-9+/_=.~-]{20,}")
_PLUGINS: list[Any] | None = None
_PLUGINS_LOCK = threading.Lock()
LOCAL_IPS = ("127.0.0.1", "0.0.0.0", "255.255.255.255")  # noqa: S104  (not secrets)


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(token: str) -> bool:
    """Random-looking: letters and digits mixed, high entropy per character."""
    core = token.strip("=.-_~")
    if len(core) < 20:
        return False
    has_digit = any(ch.isdigit() for ch in core)
    has_alpha = any(ch.isalpha() for ch in core)
    if not (has_digit and has_alpha):
        return False
    if re.fullmatch(r"[0-9a-fA-F-]+", core):
        return shannon_entropy(core) >= 3.0
    if "." in core and re.fullmatch(r"[A-Za-z_][\w.]*", core):  # dotted.identifier.path
        return False
    digits = sum(ch.isdigit() for ch in core)
    upper = sum(ch.isupper() for ch in core)
    return shannon_entropy(core) >= 3.7 and (digits >= 2 or upper >= 3)


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


class Redactor:
    """Finds secret and PII spans in text; thread-safe after construction."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self.extra = [re.compile(p) for p in extra_patterns]

    @staticmethod
    def plugins() -> list[Any]:
        """detect-secrets plugin instances, shared (imported on first use: it pulls in
        requests, so call this from a background thread before the first redaction)."""
        global _PLUGINS
        with _PLUGINS_LOCK:
            if _PLUGINS is None:
                from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

                plugins: list[Any] = []
                cls: Any
                for cls in get_mapping_from_secret_type_to_class().values():
                    try:
                        plugins.append(cls())
                    except Exception:  # a plugin that needs arguments: skip it, say so
                        logger.warning("detect-secrets plugin %s unavailable", cls.__name__)
                _PLUGINS = plugins
            return _PLUGINS

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Sorted, merged (start, end, kind) spans to redact."""
        found: list[tuple[int, int, str]] = []
        for kind, rx in PATTERNS:
            for m in rx.finditer(text):
                value = m.group(0)
                if kind == "card-number" and not _luhn(value):
                    continue
                if kind == "ipv4" and value in LOCAL_IPS:
                    continue
                found.append((m.start(), m.end(), kind))
        for rx in self.extra:
            found.extend((m.start(), m.end(), "custom") for m in rx.finditer(text) if m.end() > m.start())
        for m in TOKEN.finditer(text):
            if _looks_random(m.group(0)):
                found.append((m.start(), m.end(), "high-entropy"))
        found.extend(self._plugin_spans(text))
        return _merge(found)

    def _plugin_spans(self, text: str) -> list[tuple[int, int, str]]:
        """detect-secrets plugins: the keyword detector line by line (only on lines that
        name a secret-ish keyword: it is the slow one), the others over the whole text."""
        out: list[tuple[int, int, str]] = []
        for plugin in self.plugins():
            if type(plugin).__name__ == "KeywordDetector":
                pos = 0
                for line in text.splitlines(keepends=True):
                    if KEYWORD_HINT.search(line):
                        out.extend(_locate(plugin, line, pos))
                    pos += len(line)
            else:
                out.extend(_locate(plugin, text, 0))
        return out

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        (out,), counts = self.redact_parts([text])
        return out, counts

    def redact_parts(self, parts: list[str]) -> tuple[list[str], Counter[str]]:
        """Redact pieces that are contiguous in the document, as one text."""
        joined = "".join(parts)
        spans = self.spans(joined)
        counts: Counter[str] = Counter(kind for _, _, kind in spans)
        out = []
        base = 0
        for part in parts:
            end = base + len(part)
            pieces, cursor = [], base
            for s, e, kind in spans:
                if e <= base or s >= end:
                    continue
                s, e = max(s, base), min(e, end)
                pieces.append(joined[cursor:s])
                pieces.append(f"<redacted:{kind}>")
                cursor = e
            pieces.append(joined[cursor:end])
            out.append("".join(pieces))
            base = end
        return out, counts

    def redact_value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value (analyzer findings)."""
        if isinstance(value, str):
            return self.redact(value)[0]
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact_value(v) for k, v in value.items()}
        return value


def _locate(plugin: Any, text: str, base: int) -> list[tuple[int, int, str]]:
    try:
        values = set(plugin.analyze_string(text))
    except Exception:
        logger.debug("detect-secrets plugin %s failed", type(plugin).__name__, exc_info=True)
        return []
    limit = getattr(plugin, "entropy_limit", None)
    kind = _kind(plugin.secret_type)
    out = []
    for value in values:
        if not isinstance(value, str) or len(value) < 4:
            continue
        if limit is not None and plugin.calculate_shannon_entropy(value) <= limit:
            continue
        start = text.find(value)
        while start != -1:
            out.append((base + start, base + start + len(value), kind))
            start = text.find(value, start + len(value))
    return out


def _kind(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Merge overlapping spans; the widest (earliest-starting) match names the kind."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[tuple[int, int, str]] = []
    for s, e, kind in spans:
        if merged and s < merged[-1][1]:
            ps, pe, pk = merged[-1]
            merged[-1] = (ps, max(pe, e), pk)
        else:
            merged.append((s, e, kind))
    return merged


def window_before(text: str, offset: int, size: int, margin: int = 200) -> str:
    """About ``size`` characters before ``offset``, starting at a line or word boundary so
    that no secret is cut in half (a half secret would escape detection)."""
    if size <= 0:
        return ""
    start = max(0, offset - size)
    if start == 0:
        return text[:offset]
    nl = text.find("\n", start, min(offset, start + margin))
    if nl != -1:
        return text[nl + 1:offset]
    m = re.compile(r"\s").search(text, start, offset)
    return text[m.end():offset] if m else ""


def window_after(text: str, offset: int, size: int, margin: int = 200) -> str:
    if size <= 0:
        return ""
    end = min(len(text), offset + size)
    if end == len(text):
        return text[offset:]
    nl = text.rfind("\n", max(offset, end - margin), end)
    if nl != -1:
        return text[offset:nl + 1]
    for i in range(end - 1, offset - 1, -1):
        if text[i].isspace():
            return text[offset:i + 1]
    return ""
