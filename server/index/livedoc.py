"""Live documents: open documents, changed files and accepted text, kept as plain token
arrays that are searched by scanning and updated incrementally on every edit.

An edit re-lexes only the lines it touched (lexing restarts exactly at any newline, see
``lexer``), splices the token arrays and shifts the offsets after it: a keystroke in a
5,000-line file costs well under a millisecond plus the search structures it never needs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .lexer import Tokens, Vocabulary, lex, normalize
from .model import SourceDoc


def changed_span(old: str, new: str) -> tuple[int, int]:
    """Length of the common prefix and of the common suffix (not overlapping it)."""
    n = min(len(old), len(new))
    lo, hi = 0, n
    while lo < hi:  # binary search on C-speed slice comparisons
        mid = (lo + hi + 1) // 2
        if old[lo:mid] == new[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    p = lo
    lo, hi = 0, n - p
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid: len(old) - lo] == new[len(new) - mid: len(new) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return p, lo


class LiveDoc:
    """One document's tokens (ids and character offsets), updated in place."""

    def __init__(self, meta: SourceDoc, vocab: Vocabulary,
                 scrub: Callable[[str], str] | None = None) -> None:
        self.vocab = vocab
        self.meta = SourceDoc(meta.path, "", meta.source, meta.license, meta.own)
        self.scrub = scrub or (lambda text: text)
        """Blanks (same length) what must never be indexed: secret lines."""
        self.raw = normalize(meta.text)
        self.text = self.scrub(self.raw) if self.raw else self.raw
        toks = lex(self.text)
        self.ids = vocab.encode(toks.strings)
        self.starts = toks.starts

    def __len__(self) -> int:
        return len(self.ids)

    def update(self, text: str) -> None:
        """Replace the text; only the lines between the first and last change are re-lexed."""
        new = normalize(text)
        old = self.raw
        if new == old:
            return
        p, s = changed_span(old, new)
        lo = max(0, new.rfind("\n", 0, p))
        hi_new = new.find("\n", len(new) - s)
        if hi_new < 0:
            hi_new = len(new)
        delta = len(new) - len(old)
        hi_old = hi_new - delta
        starts = self.starts
        i0 = int(np.searchsorted(starts, lo, side="left"))
        i1 = int(np.searchsorted(starts, hi_old, side="left"))
        region = self.scrub(new[lo:hi_new])
        mid = lex(region, lo)
        mid_ids = self.vocab.encode(mid.strings)
        tail = starts[i1:] + np.int32(delta) if delta else starts[i1:]
        self.starts = np.concatenate([starts[:i0], mid.starts, tail])
        self.ids = np.concatenate([self.ids[:i0], mid_ids, self.ids[i1:]])
        self.text = self.text[:lo] + region + self.text[hi_old:]
        self.raw = new

    def append(self, text: str) -> None:
        """Add text at the end (accepted completions: one growing document)."""
        self.update(self.raw + normalize(text))

    def tokens(self) -> Tokens:
        return Tokens([self.vocab.strings[i] for i in self.ids.tolist()], self.starts)

    def offset(self, i: int) -> int:
        return int(self.starts[i])

    def levels(self, query: np.ndarray, max_len: int,
               table: np.ndarray | None = None) -> list[np.ndarray]:
        """``levels[k-1]``: token indices after each occurrence of the last ``k`` tokens of
        ``query`` (forward order), for every ``k`` that occurs; over the abstracted stream
        (the ids mapped through ``table``, computed here: an edit never updates it) when
        ``table`` is given."""
        ids = self.ids if table is None else table[self.ids]
        n = len(ids)
        out: list[np.ndarray] = []
        if n == 0 or len(query) == 0:
            return out
        ends = np.flatnonzero(ids == query[-1])  # index of the last matched token
        k = 1
        while len(ends):
            out.append(ends + 1)
            if k >= min(max_len, len(query)):
                break
            back = ends - k
            ok = back >= 0
            ends = ends[ok]
            back = back[ok]
            ends = ends[ids[back] == query[-1 - k]]
            k += 1
        return out
