"""``trojan-source``: characters that make code read differently than it runs.

- ``CW-TROJAN-BIDI``: bidirectional control characters (CVE-2021-42574; CWE-1007).
- ``CW-TROJAN-INVISIBLE``: zero-width and other invisible characters (CWE-1007).
- ``CW-TROJAN-HOMOGLYPH``: an identifier mixing scripts, such as a Cyrillic ``а`` in a
  Latin name, or a non-ASCII name that looks like an ASCII one (CVE-2021-42694; CWE-1007).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .contract import BaseAnalyzer, Finding, NoOptions, Verdict, VetContext, cwe

BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = set("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"
                "\u3164\u115f\u1160\uffa0\u034f")
_IDENT = re.compile(r"[^\W\d]\w*")
_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")


def _script(ch: str) -> str:
    if ch.isascii():
        return "LATIN" if ch.isalpha() else ""
    name = unicodedata.name(ch, "")
    for s in _SCRIPTS:
        if name.startswith(s) or f" {s} " in name:
            return s
    if "MATHEMATICAL" in name or "FULLWIDTH" in name:
        return "CONFUSABLE"
    return "OTHER" if ch.isalpha() else ""


class TrojanSourceAnalyzer(BaseAnalyzer):
    """Trojan-source characters in the suggestion (any language)."""

    name = "trojan-source"
    category = "security"
    order = 31
    Options = NoOptions

    def analyze(self, ctx: VetContext, options: Any) -> Verdict:
        text = ctx.suggestion
        if text.isascii():
            return Verdict()
        findings: list[Finding] = []
        for i, line in enumerate(text.split("\n"), 1):
            bidi = sorted({f"U+{ord(c):04X}" for c in line if c in BIDI})
            if bidi:
                findings.append(self.finding(
                    "CW-TROJAN-BIDI", "high", "high",
                    f"bidirectional control character(s) {', '.join(bidi)} can reorder how "
                    "the code is displayed", i, cwe(1007), "block"))
            hidden = sorted({f"U+{ord(c):04X}" for c in line
                             if c in INVISIBLE or 0xE0000 <= ord(c) <= 0xE007F})
            if hidden:
                findings.append(self.finding(
                    "CW-TROJAN-INVISIBLE", "high", "high",
                    f"invisible character(s) {', '.join(hidden)}", i, cwe(1007), "block"))
            for m in _IDENT.finditer(line):
                word = m.group(0)
                if word.isascii():
                    continue
                scripts = {s for s in map(_script, word) if s}
                lookalike = unicodedata.normalize("NFKC", word) != word
                if len(scripts) > 1 or lookalike or "CONFUSABLE" in scripts or (
                        scripts & {"CYRILLIC", "GREEK"} and _ascii_skeleton(word)):
                    findings.append(self.finding(
                        "CW-TROJAN-HOMOGLYPH", "high", "high",
                        f"identifier {word!r} mixes scripts or imitates an ASCII name "
                        f"({', '.join(sorted(scripts))})", i, cwe(1007), "block"))
        return Verdict.from_findings(findings)


_LOOKALIKE = str.maketrans("аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅαοτνκιρΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
                           "aeopcyxijsdqwABEKMHOPCTXIJSaotvkipABEZHIKMNOPTYX")


def _ascii_skeleton(word: str) -> bool:
    """Whether every letter of ``word`` has an ASCII look-alike (so it imitates ASCII)."""
    return word.translate(_LOOKALIKE).isascii()
