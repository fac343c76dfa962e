"""Immutable suffix-array segment: many documents, one ``pydivsufsort`` suffix array.

The documents' token ids are concatenated as ``SEP d0 SEP d1 ... SEP`` and the suffix
array is built over the *reversed* stream, so the context read backwards from the cursor
is a forward pattern: each further token of context narrows the current range of the
suffix array (two binary searches), and the longest suffix match is where the range would
become empty. Memory per token: the reversed ids (4 bytes), the suffix array (4 bytes),
line anchors (8 bytes per line, about 1 per token line) and the text itself; the
character offset of a token is found from its line's anchor by lexing that one line.

A second suffix array (``asa``) sorts the same reversed stream with every abstractable
identifier replaced by one class (``ident``, see ``lexer.abstractable``): lookups of a
context's *shape* (``abstract_ranges``; the identifiers are re-filled by ``abstract.py``).
It holds only the suffixes that may start a lookup by shape (``lexer.starts_shape``: not an
identifier, a number, a quote, ``#``, a backslash or a separator), about half of them: 2
more bytes per token, not 4; the abstracted ids themselves are never stored
(``abs_of[rev[p]]``, a table the size of the vocabulary).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from pydivsufsort import divsufsort

from .lexer import SEPARATOR, Vocabulary, lex, newline_offsets, token_strings
from .model import SourceDoc

_GATHER_MAX = 4096
"""Ranges up to this size are narrowed with one vectorised gather + searchsorted."""


@dataclass
class Anchors:
    """Line anchors of one document: token index and character offset of each line's
    first token (the newline token that starts it), plus token 0."""

    tokens: np.ndarray
    offsets: np.ndarray



def token_offset(text: str, anchors: Anchors, i: int) -> int:
    """Character offset of token ``i`` of a document, from its line anchor."""
    j = int(np.searchsorted(anchors.tokens, i, side="right")) - 1
    a, off = int(anchors.tokens[j]), int(anchors.offsets[j])
    end = text.find("\n", off + 1)
    line = lex(text[off: len(text) if end < 0 else end], off)
    return int(line.starts[i - a])


class Segment:
    """Documents indexed together; immutable once built (tombstones live outside)."""

    def __init__(self, docs: list[SourceDoc], vocab: Vocabulary, ids: list[np.ndarray],
                 anchors: list[Anchors], rev: np.ndarray | None = None,
                 sa: np.ndarray | None = None, lengths: np.ndarray | None = None,
                 asa: np.ndarray | None = None) -> None:
        self.docs = docs
        self.vocab = vocab
        """The segment's own vocabulary (ids are never remapped, so a persisted segment
        loads as it was saved)."""
        self.anchors = anchors
        if lengths is None:
            lengths = np.asarray([len(x) for x in ids], dtype=np.int64)
        # doc d occupies forward positions first[d] .. first[d] + lengths[d] - 1
        self.first = (np.cumsum(lengths + 1) - lengths).astype(np.int64)
        self.lengths = lengths
        if rev is None:
            fwd = np.empty(int(lengths.sum() + len(ids) + 1), dtype=np.int32)
            fwd[:] = SEPARATOR
            for d, x in enumerate(ids):
                fwd[self.first[d]: self.first[d] + len(x)] = x
            rev = np.ascontiguousarray(fwd[::-1])
        if sa is None:
            sa = divsufsort(rev) if len(rev) > 1 else np.zeros(len(rev), np.int32)
        self.rev = rev
        self.sa = np.asarray(sa, dtype=np.int32)
        self.fwd = rev[::-1]
        self.n = len(rev)
        self.ident = len(vocab)
        """The abstracted stream's id of every abstractable identifier."""
        self.abs_of = vocab.abstract_table(self.ident)
        if asa is None:
            asa = abstract_suffixes(rev, self.abs_of, vocab.shape_starts())
        self.asa = np.asarray(asa, dtype=np.int32)

    @staticmethod
    def build(docs: list[SourceDoc]) -> Segment:
        """Lex, encode and suffix-sort ``docs`` (texts already normalised)."""
        vocab = Vocabulary()
        ids = [vocab.encode(token_strings(doc.text)) for doc in docs]
        is_newline = np.zeros(len(vocab), dtype=bool)
        is_newline[sorted(vocab.newlines)] = True
        anchors = []
        for doc, x in zip(docs, ids, strict=True):
            tok = np.flatnonzero(is_newline[x]).astype(np.int32)
            off = newline_offsets(doc.text)
            if len(x) and (not len(tok) or tok[0] != 0):
                first = len(doc.text) - len(doc.text.lstrip(" \t\f\v"))
                tok = np.concatenate([np.zeros(1, np.int32), tok])
                off = np.concatenate([np.asarray([first], np.int32), off])
            anchors.append(Anchors(tok, off))
        return Segment(docs, vocab, ids, anchors)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    def doc_ids(self, d: int) -> np.ndarray:
        first = int(self.first[d])
        return self.fwd[first: first + int(self.lengths[d])]

    def offset(self, d: int, i: int) -> int:
        return token_offset(self.docs[d].text, self.anchors[d], i)

    def ranges(self, query_rev: np.ndarray) -> list[tuple[int, int]]:
        """``ranges[k-1]``: the suffix-array range whose suffixes start with the first ``k``
        tokens of ``query_rev`` (the context, last token first), for every ``k`` that
        occurs."""
        return _narrow(self.rev, self.sa, query_rev, None)

    def abstract_ranges(self, query_rev: np.ndarray) -> list[tuple[int, int]]:
        """The same over the abstracted stream (``asa``): ``query_rev`` holds ``ident``
        for every abstractable identifier."""
        return _narrow(self.rev, self.asa, query_rev, self.abs_of)

    def continuations(self, lo: int, hi: int, cap: int,
                      abstract: bool = False) -> list[tuple[int, int]]:
        """(doc, token index in the doc) of the token after each occurrence in ``sa[lo:hi]``
        (``asa`` when ``abstract``; an even sample of at most ``cap`` of them)."""
        sa = self.asa if abstract else self.sa
        count = hi - lo
        picks = sa[lo:hi] if count <= cap else \
            sa[np.linspace(lo, hi - 1, cap).astype(np.int64)]
        fwd_next = self.n - picks.astype(np.int64)  # forward index after the match
        docs = np.searchsorted(self.first, fwd_next, side="right") - 1
        local = fwd_next - self.first[docs]
        return list(zip(docs.tolist(), local.tolist(), strict=True))


def abstract_suffixes(rev: np.ndarray, abs_of: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The suffix array of the abstracted reversed stream, only the suffixes whose first
    token may start a lookup by shape (``starts``, per id)."""
    if len(rev) <= 1:
        return np.zeros(0, np.int32)
    full = divsufsort(abs_of[rev])
    return np.ascontiguousarray(full[starts[rev[full]]], dtype=np.int32)


def _narrow(rev: np.ndarray, sa: np.ndarray, query_rev: np.ndarray,
            table: np.ndarray | None) -> list[tuple[int, int]]:
    """The ranges of ``sa`` narrowed by each further token of ``query_rev``; the stream is
    ``rev`` mapped through ``table`` (the abstracted stream) when there is one."""
    out: list[tuple[int, int]] = []
    lo, hi = 0, len(sa)
    n = len(rev)
    for k, tok in enumerate(query_rev.tolist()):
        if tok <= SEPARATOR:
            break
        if hi - lo <= _GATHER_MAX:
            pos = sa[lo:hi].astype(np.int64) + k
            vals = rev[np.minimum(pos, n - 1)]
            if table is not None:
                vals = table[vals]
            keys = np.where(pos < n, vals, -1)
            a = lo + int(np.searchsorted(keys, tok, side="left"))
            b = lo + int(np.searchsorted(keys, tok, side="right"))
        else:
            def key(p: int, k: int = k) -> int:
                q = p + k
                if q >= n:
                    return -1
                return int(rev[q]) if table is None else int(table[rev[q]])
            a = bisect.bisect_left(sa, tok, lo, hi, key=key)
            b = bisect.bisect_right(sa, tok, a, hi, key=key)
        if a >= b:
            break
        lo, hi = a, b
        out.append((lo, hi))
    return out
