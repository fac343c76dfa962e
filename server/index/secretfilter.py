"""Secrets never enter the index: lines the secrets analyzer would flag are blanked.

The patterns are the shared credential formats (``analyzers/secret_patterns.py``, also
used by the event redactor) plus the secrets analyzer's own and detect-secrets'. The
analyzer's rules run on single lines; running all of them on every line of a large
workspace would take minutes, so each of its patterns (its own and detect-secrets') is
first narrowed by a literal that any match must contain (read from the parsed pattern, the
rarest option in the text at hand): only lines holding that literal are searched. A
pattern with no usable literal is searched over the whole text. The analyzer itself then
confirms each candidate line (and the line after it).
"""

from __future__ import annotations

import bisect
import functools
import re
from re import _constants as sc  # type: ignore[attr-defined]
from re import _parser as sp  # type: ignore[attr-defined]
from typing import Any

from codeward.analyzers import secret_patterns
from codeward.analyzers import secrets as secrets_mod
from codeward.analyzers.contract import VetContext

_MIN_LITERAL = 2


def _options(items: Any) -> list[set[str]]:
    """Alternative sets of literals, one of which every match of the sequence contains."""
    out: list[set[str]] = []
    run = ""
    for op, av in items:
        if op is sc.LITERAL:
            run += chr(av)
            continue
        if run:
            out.append({run})
            run = ""
        sub: set[str] | None = None
        if op is sc.SUBPATTERN:
            sub = _best(_options(av[3]))
        elif op is sc.BRANCH:
            subs = [_best(_options(b)) for b in av[1]]
            sub = None if any(s is None for s in subs) else set().union(*subs)  # type: ignore[arg-type]
        elif op in (sc.MAX_REPEAT, sc.MIN_REPEAT) and av[0] >= 1:
            sub = _best(_options(av[2]))
        if sub:
            out.append(sub)
    if run:
        out.append({run})
    return [o for o in out if min(map(len, o)) >= _MIN_LITERAL]


def _best(options: list[set[str]]) -> set[str] | None:
    return max(options, key=lambda o: min(map(len, o)), default=None)


@functools.cache
def _plans() -> tuple[tuple[re.Pattern[str], bool, tuple[str, ...]], ...]:
    """Each pattern, whether it ignores case, and the literals one of which any match
    contains (the most selective option; empty when there is none)."""
    out = []
    for pattern, options in _literal_options():
        best = max(options, key=lambda o: min(map(len, o)), default=())
        out.append((pattern, bool(pattern.flags & re.I), best))
    return tuple(out)


def _literal_options() -> tuple[tuple[re.Pattern[str], tuple[tuple[str, ...], ...]], ...]:
    pats: list[Any] = [secrets_mod._PASSWORD, secrets_mod._STRING,
                       *secret_patterns.CREDENTIALS.values()]
    for _, plugin in secrets_mod._plugins():
        pats.extend(getattr(plugin, "denylist", ()))
    plans = []
    for p in pats:
        if not isinstance(p, re.Pattern):
            continue
        ci = bool(p.flags & re.I)
        opts = _options(sp.parse(p.pattern, p.flags))
        plans.append((p, tuple(tuple(sorted(x.lower() if ci else x for x in o))
                               for o in opts)))
    return tuple(plans)


@functools.cache
def _analyzer() -> tuple[secrets_mod.SecretsAnalyzer, secrets_mod.SecretsOptions]:
    analyzer = secrets_mod.SecretsAnalyzer()
    analyzer.warm_up()
    return analyzer, secrets_mod.SecretsOptions()


def warm() -> None:
    """Parse the patterns and start the analyzer now (about 0.1 s), not at the first edit."""
    _plans()
    _analyzer()


def _candidate_starts(text: str, low: str) -> set[int]:
    """Offsets inside lines that one of the patterns matches."""
    found: set[int] = set()
    budget = max(50, len(text) // 20)  # literal hits before one pass is cheaper
    for pattern, ignore_case, best in _plans():
        hay = low if ignore_case else text
        hits: list[int] = []
        for lit in best:
            i = hay.find(lit)
            while i >= 0 and len(hits) <= budget:
                hits.append(i)
                i = hay.find(lit, i + len(lit))
        if not best or len(hits) > budget:
            found.update(m.start() for m in pattern.finditer(text))
            continue
        for i in hits:
            start = text.rfind("\n", 0, i) + 1
            end = text.find("\n", i)
            # from the newline before the line, so a pattern that wants ``^`` or ``\s``
            # before the value matches as it does on the line alone
            if pattern.search(text, max(0, start - 1), len(text) if end < 0 else end):
                found.add(start)
    return found


def secret_lines(text: str) -> list[int]:
    """0-based numbers of the lines that hold a secret."""
    starts = _candidate_starts(text, text.lower())
    if not starts:
        return []
    lines = text.split("\n")
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line) + 1)
    candidates = {bisect.bisect_right(line_starts, s) - 1 for s in starts}
    candidates |= {c + 1 for c in candidates if c + 1 < len(lines)}
    analyzer, options = _analyzer()
    found = []
    for n in sorted(candidates):
        if not lines[n].strip():
            continue
        verdict = analyzer.analyze(VetContext(prefix="", suggestion=lines[n], suffix=""),
                                   options)
        if verdict.findings:
            found.append(n)
    return found


_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?"
                        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)", re.S)


def _lines_to_blank(text: str) -> set[int]:
    found = set(secret_lines(text))
    if "PRIVATE KEY" in text:
        for m in _KEY_BLOCK.finditer(text):
            first = text.count("\n", 0, m.start())
            found.update(range(first, first + m.group(0).count("\n") + 1))
    return found


def blank_secrets(text: str) -> tuple[str, int]:
    """``text`` with every secret line emptied (line numbers stay), and how many; the body
    of a private key block goes with its BEGIN line."""
    texts, n = blank_secrets_many([text])
    return texts[0], n


def blank_secrets_many(texts: list[str]) -> tuple[list[str], int]:
    """:func:`blank_secrets` over many texts in one pass (one joined text is searched)."""
    joined = "\n".join(texts)
    found = sorted(_lines_to_blank(joined))
    if not found:
        return texts, 0
    firsts = [0]
    for t in texts:
        firsts.append(firsts[-1] + t.count("\n") + 1)
    by_text: dict[int, list[int]] = {}
    for n in found:
        i = bisect.bisect_right(firsts, n) - 1
        by_text.setdefault(i, []).append(n - firsts[i])
    out = list(texts)
    for i, nums in by_text.items():
        lines = out[i].split("\n")
        for n in nums:
            lines[n] = ""
        out[i] = "\n".join(lines)
    return out, len(found)


def scrub(text: str) -> str:
    """``text`` with each secret line replaced by as many spaces (offsets stay valid)."""
    found = _lines_to_blank(text)
    if not found:
        return text
    lines = text.split("\n")
    for n in found:
        lines[n] = " " * len(lines[n])
    return "\n".join(lines)
