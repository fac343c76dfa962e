"""From the tokens before the cursor to candidates: longest suffix match over every part
of the index, then the continuations of its occurrences grouped and voted.

Plain functions over ``Part``s (a suffix-array segment or a live document); the live
index (``live.py``) only decides which parts there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import postprocess
from .lexer import Vocabulary, lex
from .livedoc import LiveDoc
from .model import SOURCE_WEIGHTS, IndexCandidate, Lookup, Occurrence, Provenance, SourceDoc
from .segment import Segment

SAMPLE = 64
"""Occurrences examined per part and match length (an even sample of larger ranges;
their votes are scaled up to the whole range)."""
LINE_TOKENS = 64
"""Tokens of a continuation compared when grouping occurrences."""


@dataclass
class View:
    """One document of a part, as far as a candidate needs it."""

    vocab: Vocabulary
    meta: SourceDoc
    ids: np.ndarray
    text: str
    part: Segment | LiveDoc
    doc: int = 0

    def offset(self, i: int) -> int:
        if isinstance(self.part, Segment):
            return self.part.offset(self.doc, i)
        return self.part.offset(i)


@dataclass
class Part:
    """A searchable piece of the index with its source label."""

    part: Segment | LiveDoc
    source: str
    dead: frozenset[int] = frozenset()
    current_line: tuple[int, int] | None = None
    """For the current document: the cursor line's character span (never a source)."""
    key: int = field(default=0)


@dataclass
class Query:
    context: list[str]
    """The tokens before the cursor (without a partial last token), at most max_len."""
    partial: str
    """The last token as typed so far ("" when the cursor follows whitespace or a newline)."""


def make_query(prefix: str, max_len: int) -> Query:
    tail = prefix[-max(2000, 8 * max_len):]
    if len(tail) < len(prefix):
        cut = tail.find("\n")
        tail = tail[cut:] if cut >= 0 else ""
    strings = lex(tail).strings
    partial = ""
    # The last token is still being typed unless whitespace follows it; a newline token
    # counts as typed so far only at column 0 (no indentation yet), otherwise the
    # indentation typed is what the copy must start with.
    if strings and not prefix.endswith((" ", "\t")) and (strings[-1][0] != "\n"
                                                         or strings[-1] == "\n"):
        partial = strings.pop()
    return Query(strings[-max_len:], partial)


@dataclass
class _Occ:
    view: View
    index: int
    weight: float
    source: str


def _views(p: Part, pairs: Iterable[tuple[int, int]]) -> Iterable[tuple[View, int]]:
    if isinstance(p.part, Segment):
        seg = p.part
        for d, i in pairs:
            if d in p.dead:
                continue
            yield View(seg.vocab, seg.docs[d], seg.doc_ids(d), seg.docs[d].text, seg, d), i
    else:
        live = p.part
        view = View(live.vocab, live.meta, live.ids, live.text, live)
        for _, i in pairs:
            yield view, i


def _level(p: Part, depth_data: object, k: int) -> tuple[list[tuple[int, int]], float]:
    if isinstance(p.part, Segment):
        lo, hi = depth_data[k - 1]  # type: ignore[index]
        pairs = p.part.continuations(lo, hi, SAMPLE)
        return pairs, (hi - lo) / max(1, len(pairs))
    idx = depth_data[k - 1]  # type: ignore[index]
    scale = max(1.0, len(idx) / SAMPLE)
    if len(idx) > SAMPLE:
        idx = idx[np.linspace(0, len(idx) - 1, SAMPLE).astype(np.int64)]
    return [(0, int(i)) for i in idx.tolist()], scale


def longest_match(parts: Sequence[Part], query: Query,
                  max_len: int) -> tuple[int, list[_Occ], int]:
    """The longest match length with at least one usable occurrence, those occurrences
    (weighted) and how many occurrences that length has in all."""
    depth: list[tuple[Part, object, int]] = []
    for p in parts:
        ctx = p.part.vocab.encode(query.context, grow=False)
        if isinstance(p.part, Segment):
            data: object = p.part.ranges(ctx[::-1][:max_len])
        else:
            data = p.part.levels(ctx, max_len)
        depth.append((p, data, len(data)))  # type: ignore[arg-type]
    top = max((d for _, _, d in depth), default=0)
    for k in range(top, 0, -1):
        occs: list[_Occ] = []
        total = 0
        for p, data, d in depth:
            if d < k:
                continue
            pairs, scale = _level(p, data, k)
            weight = SOURCE_WEIGHTS.get(p.source, 1.0) * scale
            strings = p.part.vocab.strings
            for view, i in _views(p, pairs):
                if i >= len(view.ids):
                    continue
                if query.partial and not strings[int(view.ids[i])].startswith(query.partial):
                    continue
                if p.current_line is not None:
                    # where the copy would start: after the partly typed token (at column
                    # 0 of an empty line that is the line's start, and the occurrence is
                    # the document's own prefix, continued by its suffix)
                    off = view.offset(i) + len(query.partial)
                    if p.current_line[0] <= off <= p.current_line[1]:
                        continue
                occs.append(_Occ(view, i, weight, p.source))
                total += 1
        if occs:
            return k, occs, total
    return 0, [], 0


def _line_key(occ: _Occ) -> tuple[str, ...]:
    """The continuation's tokens up to the end of its line (as strings: parts have their
    own vocabularies)."""
    strings = occ.view.vocab.strings
    row = [strings[t] for t in occ.view.ids[occ.index: occ.index + LINE_TOKENS].tolist()]
    for j, t in enumerate(row):
        if j and t[0] == "\n":
            return tuple(row[:j])
    return tuple(row)


def _start(occ: _Occ, partial: str) -> int:
    return occ.view.offset(occ.index) + len(partial)


def _single_line(occ: _Occ, partial: str) -> tuple[str, int]:
    text = occ.view.text
    start = _start(occ, partial)
    end = text.find("\n", start)
    return text[start: len(text) if end < 0 else end], start


def _block(occ: _Occ, partial: str, prefix: str, max_lines: int) -> str:
    text = occ.view.text
    start = _start(occ, partial)
    end = start
    for _ in range(max_lines + 2):
        nxt = text.find("\n", end + 1)
        if nxt < 0:
            end = len(text)
            break
        end = nxt
    raw = postprocess.truncate_block(text[start:end], prefix)
    return "\n".join(raw.split("\n")[:max_lines]).rstrip()


def _agree_suffix(text: str, suffix: str) -> str | None:
    """The copy without what the cursor line already has after the cursor; None when the
    copy does not end the way that line does."""
    rest = postprocess.current_line_suffix(suffix).strip()
    if not rest:
        return text.rstrip()
    body = text.rstrip()
    if not body.endswith(rest):
        return None
    return body[: len(body) - len(rest)]


def _provenance(occ: _Occ, start: int) -> Provenance:
    return provenance_at(occ.view, occ.source, start)


def provenance_at(view: View, source: str, start: int) -> Provenance:
    """Where the copy starts (a copy that starts with a newline: the line after it)."""
    meta = view.meta
    text = view.text
    line = text.count("\n", 0, start) + 1 + (text.startswith("\n", start))
    return Provenance(meta.path, line, meta.license, source, meta.own)


def candidates(parts: Sequence[Part], query: Query, prefix: str, suffix: str, *,
               max_len: int, max_candidates: int, multiline: bool, max_lines: int,
               min_share: float) -> tuple[Lookup, list[IndexCandidate]]:
    """The longest match of ``query`` (``make_query(prefix, max_len)``, built once per
    request: the renamed-copy lookup reads the same one) and up to ``max_candidates``
    distinct continuations, the most voted first (a multi-line block first when
    ``multiline`` and the occurrences agree on it by at least ``min_share``)."""
    k, occs, total = longest_match(parts, query, max_len)
    lookup = Lookup(k, [Occurrence(o.view.meta.path, o.index) for o in occs], total)
    if not occs:
        return lookup, []
    groups: dict[tuple[str, ...], list[_Occ]] = {}
    for occ in occs:
        groups.setdefault(_line_key(occ), []).append(occ)
    weight_all = sum(o.weight for o in occs)
    ranked = sorted(groups.values(), key=lambda g: (-sum(o.weight for o in g),
                                                    -max(o.weight for o in g)))
    out: list[IndexCandidate] = []
    if multiline:
        block = _agreed_block(occs, query.partial, prefix, max_lines, weight_all, min_share)
        if block is not None:
            text, share, best = block
            out.append(IndexCandidate(text, k, share * weight_all, share, len(occs),
                                      _provenance(best, _start(best, query.partial)), True))
    seen = {c.text.split("\n", 1)[0] for c in out}
    for group in ranked:
        if len(out) >= max_candidates:
            break
        best = max(group, key=lambda o: o.weight)
        line, start = _single_line(best, query.partial)
        agreed = _agree_suffix(line, suffix)
        if not agreed or not agreed.strip() or agreed in seen:
            continue
        text = agreed
        seen.add(text)
        votes = sum(o.weight for o in group)
        out.append(IndexCandidate(text, k, votes, votes / weight_all, len(group),
                                  _provenance(best, start)))
    return lookup, out


def _agreed_block(occs: list[_Occ], partial: str, prefix: str, max_lines: int,
                  weight_all: float, min_share: float) -> tuple[str, float, _Occ] | None:
    """The block most occurrences continue with, when enough of them agree on it and it
    has more than one line."""
    votes: dict[str, list[_Occ]] = {}
    considered = sorted(occs, key=lambda o: -o.weight)[:16]
    for occ in considered:
        votes.setdefault(_block(occ, partial, prefix, max_lines), []).append(occ)
    text, group = max(votes.items(), key=lambda kv: sum(o.weight for o in kv[1]))
    share = sum(o.weight for o in group) / sum(o.weight for o in considered)
    if share < min_share or "\n" not in text or not text.strip():
        return None
    return text, share, max(group, key=lambda o: o.weight)
