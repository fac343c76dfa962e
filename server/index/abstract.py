"""Identifier-abstracted copies: a line the project has in the same *shape*, its names
re-filled from the cursor's own context.

The project has ``self.host = host`` after ``def __init__(self, host, port):``; the cursor
is after ``def __init__(self, name, size):`` and an indentation. No verbatim copy fits, but
the context matches ``def __init__(self, IDENT, IDENT):`` with every abstractable
identifier (``lexer.abstractable``: not a keyword, ``self`` or ``cls``) as one class. Each
occurrence of that abstracted context is *aligned* with the cursor's context, last token
first: the match holds as long as one consistent renaming (a bijection, source name ->
cursor name) maps the one onto the other, so ``(self, host, host)`` does not align with
``(self, name, size)``. The occurrence's continuation to the end of its line is then
re-filled through that renaming (``host`` -> ``name``): ``self.name = name``.

A name of the continuation the renaming does not bind (``unbound``) keeps the source's
spelling only when the document before the cursor has it as a token (else the copy is
cut before it, ``cut``; the gate decides whether a cut copy is shown at all). Occurrences
are grouped by their re-filled text and voted (source weights as for verbatim copies);
each group is an :class:`IndexCandidate` with ``abstracted=True``, its consistent match
length, how many identifiers were rewritten and how many were unbound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .lexer import Vocabulary, abstractable, lex, starts_shape
from .livedoc import LiveDoc
from .lookup import SAMPLE, Part, Query, View, _agree_suffix, _views, provenance_at
from .model import SOURCE_WEIGHTS, IndexCandidate
from .segment import Segment

MAX_CONTEXT = 32
"""Tokens of context aligned at most (longer is not more confident)."""
MAX_OCCURRENCES = 96
"""Occurrences aligned at most per lookup, the longest abstract matches first."""
REFILLED = 32
"""Aligned occurrences re-filled at most (the longest alignments; the rest only count
against the vote share)."""
MIN_LEVEL = 3
"""Abstract matches shorter than this are not examined."""
_NEAR = 3000
"""Characters before the cursor searched for a name the cursor's partial word starts."""
LIVE_IDENT = -2
"""The identifier class in live documents' abstracted ids (never a real id)."""


@dataclass
class _Aligned:
    view: View
    index: int
    weight: float
    source: str
    length: int
    """Tokens before the cursor that match up to the renaming."""
    renaming: dict[str, str]
    """Source name -> the cursor context's name (identity included)."""


def abstract_ids(vocab: Vocabulary, strings: list[str], ident: int) -> np.ndarray:
    ids = vocab.encode(strings, grow=False)
    mask = np.fromiter(map(abstractable, strings), dtype=bool, count=len(strings))
    ids[mask] = ident
    return ids


def align(source: Sequence[str], context: Sequence[str]) -> tuple[int, dict[str, str]]:
    """How many tokens, from the cursor back, ``source`` and ``context`` agree on up to one
    consistent renaming of abstractable identifiers, and that renaming."""
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}
    n = 0
    for s, c in zip(reversed(source), reversed(context), strict=False):
        if abstractable(s) and abstractable(c):
            if forward.get(s, c) != c or backward.get(c, s) != s:
                break
            forward[s] = c
            backward[c] = s
        elif s != c:
            break
        n += 1
    return n, forward


class Known(dict[str, bool]):
    """name -> whether ``text`` has it as a whole word (looked up once per name)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.starts: dict[str, str | None] = {}

    def __missing__(self, name: str) -> bool:
        self[name] = found = has_word(self.text, name)
        return found

    def last_with(self, start: str) -> str | None:
        """The last abstractable word of ``text`` that starts with ``start`` (and is longer)."""
        key = "\0" + start
        if key not in self.starts:
            found = None
            for m in reversed(list(re.finditer(rf"(?<!\w){re.escape(start)}\w+",
                                               self.text[-_NEAR:]))):
                if abstractable(m.group()):
                    found = m.group()
                    break
            self.starts[key] = found
        return self.starts[key]


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def has_word(text: str, name: str) -> bool:
    """Whether ``name`` occurs in ``text`` as a whole word."""
    i = text.find(name)
    while i >= 0:
        end = i + len(name)
        if (i == 0 or not _is_word(text[i - 1])) and (end == len(text)
                                                       or not _is_word(text[end])):
            return True
        i = text.find(name, i + 1)
    return False


def refill(line: str, renaming: dict[str, str], known: Known,
           partial: str = "") -> tuple[str, int, int, bool]:
    """``line`` (a source continuation) with its names rewritten by ``renaming``: (text,
    identifiers rewritten, unbound names kept, cut). An unbound name is kept only where
    ``known[name]`` (the document before the cursor has it) and it is not the new name of
    another source name; else the text stops before it (``cut``). An unbound first name
    where the cursor is inside a word (``partial``) becomes the last word of the document
    before the cursor that starts with ``partial`` (and so does each later use of it)."""
    renaming = dict(renaming)
    taken = set(renaming.values())
    out: list[str] = []
    pos = renamed = unbound = 0
    toks = lex(line)
    for n, (s, start) in enumerate(zip(toks.strings, toks.starts.tolist(), strict=True)):
        if not abstractable(s):
            continue
        new = renaming.get(s)
        if new is None and n == 0 and partial and not s.startswith(partial):
            new = known.last_with(partial)
            if new is not None and new not in taken:
                renaming[s] = new
                taken.add(new)
            else:
                new = None
        if new is None:
            if s in taken or not known[s]:
                out.append(line[pos:start])
                return "".join(out).rstrip(), renamed, unbound, True
            new = s
            unbound += 1
        renamed += new != s
        out.append(line[pos:start])
        out.append(new)
        pos = start + len(s)
    out.append(line[pos:])
    return "".join(out), renamed, unbound, False


def _levels(parts: Sequence[Part], context: list[str],
            max_len: int) -> list[tuple[Part, list, int]]:
    out = []
    for p in parts:
        if isinstance(p.part, Segment):
            q = abstract_ids(p.part.vocab, context, p.part.ident)
            data: list = p.part.abstract_ranges(q[::-1][:max_len])
        else:
            live: LiveDoc = p.part
            q = abstract_ids(live.vocab, context, LIVE_IDENT)
            data = live.levels(q, max_len, live.vocab.abstract_table(LIVE_IDENT))
        out.append((p, data, len(data)))
    return out


def _size(level: object) -> int:
    if isinstance(level, tuple):
        return level[1] - level[0]
    return len(level)  # type: ignore[arg-type]


def _pairs(p: Part, data: list, k: int) -> list[tuple[int, int]]:
    if isinstance(p.part, Segment):
        lo, hi = data[k - 1]
        return p.part.continuations(lo, hi, SAMPLE, abstract=True)
    idx = data[k - 1]
    if len(idx) > SAMPLE:
        idx = idx[np.linspace(0, len(idx) - 1, SAMPLE).astype(np.int64)]
    return [(0, int(i)) for i in idx.tolist()]


def longest_shape(parts: Sequence[Part], context: list[str]) -> tuple[int, list[tuple[str, int]],
                                                                     int]:
    """The longest match of the context's last ``MAX_CONTEXT`` tokens in the abstracted
    stream: its length, (path, token index after it) of a sample of its occurrences, and
    how many it has (tests and eval; candidates use :func:`aligned_occurrences`)."""
    context = context[-MAX_CONTEXT:]
    if not context or not starts_shape(context[-1]):
        return 0, [], 0
    levels = _levels(parts, context, MAX_CONTEXT)
    for k in range(max((d for _, _, d in levels), default=0), 0, -1):
        found: list[tuple[str, int]] = []
        for p, data, d in levels:
            if d >= k:
                found += [(view.meta.path, i) for view, i in _views(p, _pairs(p, data, k))
                          if i < len(view.ids)]
        if found:
            return k, found, len(found)
    return 0, [], 0


def aligned_occurrences(parts: Sequence[Part], query: Query) -> list[_Aligned]:
    """Occurrences of the context's shape, longest first, aligned with the context; only
    those that rename something (the rest are verbatim matches, found verbatim)."""
    context = query.context[-MAX_CONTEXT:]
    if not context or not starts_shape(context[-1]) or not any(map(abstractable, context)):
        return []
    levels = _levels(parts, context, MAX_CONTEXT)
    top = max((d for _, _, d in levels), default=0)
    seen: set[tuple[int, int, int]] = set()
    out: list[_Aligned] = []
    for k in range(top, MIN_LEVEL - 1, -1):
        if len(seen) >= MAX_OCCURRENCES:
            break
        for n, (p, data, d) in enumerate(levels):
            if d < k or (k < d and _size(data[k - 1]) == _size(data[k])):
                continue  # no occurrence that the longer match did not have
            weight = SOURCE_WEIGHTS.get(p.source, 1.0)
            for view, i in _views(p, _pairs(p, data, k)):
                if (n, view.doc, i) in seen or i >= len(view.ids):
                    continue
                seen.add((n, view.doc, i))
                if p.current_line is not None:
                    off = view.offset(i) + len(query.partial)
                    if p.current_line[0] <= off <= p.current_line[1]:
                        continue
                strings = view.vocab.strings
                source = [strings[t] for t in view.ids[max(0, i - k): i].tolist()]
                length, renaming = align(source, context[-k:])
                if all(s == c for s, c in renaming.items()):
                    continue
                out.append(_Aligned(view, i, weight, p.source, length, renaming))
    return out


def candidates(parts: Sequence[Part], query: Query, prefix: str, suffix: str,
               max_candidates: int, taken: set[str]) -> list[IndexCandidate]:
    """Up to ``max_candidates`` re-filled copies, the longest aligned match first, then the
    most voted; none that repeats a text of ``taken`` (the verbatim candidates)."""
    occs = aligned_occurrences(parts, query)
    if not occs:
        return []
    known = Known(prefix)
    groups: dict[str, list[tuple[_Aligned, int, int, bool]]] = {}
    for occ in sorted(occs, key=lambda o: -o.length)[:REFILLED]:
        text = occ.view.text
        start = occ.view.offset(occ.index)
        end = text.find("\n", start)
        line = text[start: len(text) if end < 0 else end]
        filled, renamed, unbound, cut = refill(line, occ.renaming, known, query.partial)
        if not filled.startswith(query.partial):
            continue
        filled = filled[len(query.partial):]
        agreed = filled.rstrip() if cut else _agree_suffix(filled, suffix)
        if agreed and agreed.strip() and agreed not in taken:
            groups.setdefault(agreed, []).append((occ, renamed, unbound, cut))
    ranked = sorted(groups.items(), key=lambda kv: (kv[1][0][3],
                                                    -max(o.length for o, *_ in kv[1]),
                                                    -sum(o.weight for o, *_ in kv[1])))
    out: list[IndexCandidate] = []
    for text, group in ranked[:max_candidates]:
        best, renamed, unbound, cut = max(group, key=lambda g: (g[0].length, g[0].weight))
        rivals = sum(o.weight for o in occs if o.length >= best.length)
        votes = sum(o.weight for o, *_ in group if o.length >= best.length)
        start = best.view.offset(best.index) + len(query.partial)
        out.append(IndexCandidate(
            text, best.length, votes, votes / rivals if rivals else 0.0, len(group),
            provenance_at(best.view, best.source, start), abstracted=True, renamed=renamed,
            unbound=unbound, cut=cut, names=len(best.renaming),
            renames=sum(a != b for a, b in best.renaming.items())))
    return out

