"""Secrets never enter the index: lines the secrets analyzer would flag are blanked.

The patterns are the shared credential formats (``analyzers/secret_patterns.py``, also
used by the event redactor) plus the secrets analyzer's own and detect-secrets'. The
analyzer's rules run on single lines; running all of them on every line of a large
workspace would take minutes, so each of its patterns (its own and detect-secrets') is
first narrowed by literals one of which any match must contain (read from the parsed
pattern, the most selective option): one Aho-Corasick pass (``ahocorasick_rs``) over the
UTF-8 text finds every line holding any pattern's literal (case-folded for the patterns
that ignore case), and only those lines are searched with that pattern. A pattern with no
usable literal, or whose literal is on too many lines, is searched over the whole text.
The analyzer itself then confirms each candidate line (and the line after it).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from itertools import accumulate
from pathlib import Path
from re import _constants as sc  # type: ignore[attr-defined]
from re import _parser as sp  # type: ignore[attr-defined]
from typing import Any

import ahocorasick_rs
import numpy as np

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
        prev = run
        if run:
            out.append({run})
            run = ""
        sub: set[str] | None = None
        if op is sc.SUBPATTERN:
            sub = _best(_options(av[3]))
        elif op is sc.BRANCH:
            subs = [_best(_options(b)) for b in av[1]]
            sub = None if any(s is None for s in subs) else set().union(*subs)  # type: ignore[arg-type]
            if prev:  # the parser factors a common prefix out: "ab|ac" -> "a" (b|c)
                joined = {prev + _lead(b) for b in av[1]}
                if min(map(len, joined)) > min(map(len, sub or {""})):
                    sub = joined
        elif op in (sc.MAX_REPEAT, sc.MIN_REPEAT) and av[0] >= 1:
            sub = _best(_options(av[2]))
        if sub:
            out.append(sub)
    if run:
        out.append({run})
    return [o for o in out if min(map(len, o)) >= _MIN_LITERAL]


def _lead(items: Any) -> str:
    """The literal characters every match of the sequence starts with."""
    lead = ""
    for op, av in items:
        if op is not sc.LITERAL:
            break
        lead += chr(av)
    return lead


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


@functools.cache
def fingerprint() -> str:
    """What the filter blanks, as a short hash: every pattern and its flags, the secrets
    analyzer's and the shared patterns' source, detect-secrets' version (a segment cached
    under other rules is not reused)."""
    from importlib.metadata import version

    h = hashlib.sha256(version("detect-secrets").encode())
    for module in (secrets_mod, secret_patterns):  # the rules and the confirming analyzer
        h.update(Path(module.__file__ or "").read_bytes())
    for pattern, ignore_case, _ in _plans():
        h.update(f"\0{pattern.pattern}\0{pattern.flags}\0{ignore_case}".encode())
    h.update(_KEY_BLOCK.pattern.encode())
    return h.hexdigest()[:16]


def warm() -> None:
    """Parse the patterns and start the analyzer now (about 0.1 s), not at the first edit."""
    _plans()
    _analyzer()


_FOLD = {"\u212a".encode(): b"k", "\u017f".encode(): b"s", "\u0130".encode(): b"i",
         "\u0131".encode(): b"i"}
"""Non-ASCII letters that case-insensitive matching takes for ASCII ones."""


@functools.cache
def _automata() -> tuple[tuple[Any, list[list[int]]], tuple[Any, list[list[int]]]]:
    """(automaton, plans of each of its literals) for the case-sensitive literals and for
    the case-folded ones."""
    exact: dict[str, list[int]] = {}
    folded: dict[str, list[int]] = {}
    for k, (_, ignore_case, best) in enumerate(_plans()):
        for lit in best:
            (folded if ignore_case else exact).setdefault(lit, []).append(k)

    def make(table: dict[str, list[int]]) -> tuple[Any, list[list[int]]]:
        keys = list(table)
        auto = ahocorasick_rs.BytesAhoCorasick([k.encode() for k in keys]) if keys else None
        return auto, [table[k] for k in keys]

    return make(exact), make(folded)


def _literal_lines(data: bytes, auto: Any, plans_of: list[list[int]],
                   out: dict[int, list[np.ndarray]]) -> None:
    """Line numbers holding each plan's literals (``out[plan]``), from one pass."""
    if auto is None:
        return
    hits = auto.find_matches_as_indexes(data, overlapping=True)
    if not hits:
        return
    arr = np.asarray(hits, dtype=np.int64)
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    lines = np.searchsorted(newlines, arr[:, 1], side="right")
    for j in np.unique(arr[:, 0]).tolist():
        found = np.unique(lines[arr[:, 0] == j])
        for k in plans_of[j]:
            out.setdefault(k, []).append(found)


def _candidate_lines(text: str, starts: list[int]) -> set[int]:
    """Numbers of the lines that one of the patterns matches (``starts``: the character
    offset of each line, and one past the end)."""
    data = text.encode("utf-8", "surrogatepass")
    (exact, exact_plans), (folded, folded_plans) = _automata()
    by_plan: dict[int, list[np.ndarray]] = {}
    _literal_lines(data, exact, exact_plans, by_plan)
    low = data.lower()
    if not text.isascii():
        for char, ascii_letter in _FOLD.items():
            if char in low:
                low = low.replace(char, ascii_letter)  # line numbers stay
    _literal_lines(low, folded, folded_plans, by_plan)
    budget = max(50, len(text) // 200)  # candidate lines before one pass is cheaper
    line_starts = np.asarray(starts, dtype=np.int64)
    found: set[int] = set()
    for k, (pattern, _, best) in enumerate(_plans()):
        parts = by_plan.get(k, [])
        lines = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        if not best or len(lines) > budget:
            offsets = [m.start() for m in pattern.finditer(text)]
            found.update((np.searchsorted(line_starts, offsets, side="right") - 1).tolist())
            continue
        for n in lines.tolist():
            # from the newline before the line, so a pattern that wants ``^`` or ``\s``
            # before the value matches as it does on the line alone
            if pattern.search(text, max(0, starts[n] - 1), starts[n + 1] - 1):
                found.add(n)
    return found


def secret_lines(text: str) -> list[int]:
    """0-based numbers of the lines that hold a secret."""
    lines = text.split("\n")
    starts = [0, *accumulate(len(line) + 1 for line in lines)]
    candidates = _candidate_lines(text, starts)
    if not candidates:
        return []
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
