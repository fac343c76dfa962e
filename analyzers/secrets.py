"""``secrets``: credentials the suggestion would insert.

On the suggestion's lines only: detect-secrets' line plugins (their regexes, called
through ``analyze_string``, so no verification request ever leaves the machine), plus
Codeward's rules for what they miss or flag loosely:

- ``CW-SECRET-<PLUGIN>``: a detect-secrets plugin matched (AWS, GitHub, Slack, Stripe,
  private key blocks, JWT, ...) (CWE-798).
- ``CW-SECRET-PASSWORD``: a password/secret/token-named variable, key or argument set to a
  literal that is not a placeholder (CWE-259).
- ``CW-SECRET-URL``: a connection string or URL with a password in it (CWE-798).
- ``CW-SECRET-ENTROPY``: a high-entropy string literal (base64 >= 4.5 bits/char, hex >=
  3.0, at least 20 characters) (CWE-798).
- ``CW-SECRET-TOKEN``: the well-known credential formats of ``secret_patterns`` (the
  same patterns the event redactor removes from logs: Google, Hugging Face, OpenAI and
  Anthropic keys, GitLab, npm and PyPI tokens, bearer tokens, ...) (CWE-798).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .config import bounded
from .contract import BaseAnalyzer, Finding, Verdict, VetContext, cwe
from .secret_patterns import CREDENTIALS, secret_part

_SKIP_PLUGINS = {"KeywordDetector", "IPPublicDetector", "Base64HighEntropyString",
                 "HexHighEntropyString"}
_NAME = r"(?:password|passwd|pwd|pass|secret|token|api_?key|apikey|access_?key|auth_?key|" \
        r"private_?key|client_?secret|credentials?)"
_PASSWORD = re.compile(
    rf"""(?ix)\b\w*{_NAME}\w*['"]?\s*(?::|=|:=|==)\s*(?:b|r|u)?(['"])(?P<v>[^'"\s]{{4,}})\1""")
_STRING = re.compile(r"""(['"])(?P<v>[A-Za-z0-9+/=_\-]{20,})\1""")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|\.+|-+|<[^>]*>|\$\{?[\w.]+\}?|%\(?\w*\)?s?|\{\w*\}|changeme|password|"
    r"secret|token|example|placeholder|dummy|none|null|test|your[_-]?\w*|\w*_here|redacted|"
    r"env|os\.environ.*)$")
_HEX = set("0123456789abcdefABCDEF")
_DIGEST_CONTEXT = re.compile(r"(?i)sha\d*|md5|hash|digest|checksum|etag|commit|uuid|integrity")


def entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


def _plugins() -> list[tuple[str, Any]]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    out = []
    cls: Any
    for cls in get_mapping_from_secret_type_to_class().values():
        if cls.__name__ in _SKIP_PLUGINS:
            continue
        plugin: Any = cls
        out.append((re.sub(r"(Detector|Key)$", "", cls.__name__).upper() or "PLUGIN", plugin()))
    return out


@dataclass
class SecretsOptions:
    entropy: bool = True
    """Report high-entropy string literals."""
    base64_limit: float = bounded(4.5, 0.0, 6.0)
    hex_limit: float = bounded(3.0, 0.0, 4.0)
    allow_values: list[str] = field(default_factory=list)
    """Literal values never reported (test fixtures, public sample keys)."""


class SecretsAnalyzer(BaseAnalyzer):
    """Blocks suggestions that would insert a credential."""

    name = "secrets"
    category = "secrets"
    order = 40
    Options = SecretsOptions

    def __init__(self) -> None:
        self._detectors: list[tuple[str, Any]] | None = None

    def warm_up(self) -> None:
        self._detectors = _plugins()

    def analyze(self, ctx: VetContext, options: SecretsOptions) -> Verdict:
        if self._detectors is None:
            self._detectors = _plugins()
        findings: list[Finding] = []
        lines = ctx.suggestion_lines()
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            findings.extend(self._line(line, i, options))
        return Verdict.from_findings(findings)

    def _line(self, line: str, i: int, options: SecretsOptions) -> list[Finding]:
        hits: list[tuple[str, str, str]] = []
        for name, plugin in self._detectors or []:
            for value in plugin.analyze_string(line):
                hits.append((f"CW-SECRET-{name}", f"{type(plugin).secret_type}", value))
        for m in _PASSWORD.finditer(line):
            if not _PLACEHOLDER.match(m.group("v")):
                hits.append(("CW-SECRET-PASSWORD", "hard-coded password or secret",
                             m.group("v")))
        for kind, rx in CREDENTIALS.items():
            for m in rx.finditer(line):
                if kind == "url-credentials":
                    hits.append(("CW-SECRET-URL", "connection string with a password",
                                 secret_part(m)))
                else:
                    hits.append(("CW-SECRET-TOKEN", kind, secret_part(m)))
        if options.entropy and not _DIGEST_CONTEXT.search(line):
            for m in _STRING.finditer(line):
                v = m.group("v")
                is_hex = set(v) <= _HEX
                limit = options.hex_limit if is_hex else options.base64_limit
                if (any(c.isdigit() for c in v) and any(c.isalpha() for c in v)
                        and entropy(v) >= limit):
                    hits.append(("CW-SECRET-ENTROPY",
                                 f"high-entropy {'hex' if is_hex else 'base64'} string", v))
        out, seen = [], set()
        for rule, label, value in hits:
            if value in options.allow_values or value in seen or _PLACEHOLDER.match(value):
                continue
            seen.add(value)
            masked = value[:3] + "…" if len(value) > 6 else "…"
            out.append(self.finding(rule, "high", "medium" if rule == "CW-SECRET-ENTROPY"
                                    else "high", f"{label} ({masked}) in a literal", i,
                                    cwe(259 if rule == "CW-SECRET-PASSWORD" else 798),
                                    "block"))
        return out
