"""The code lexer and the vocabulary that turns its tokens into int32 ids.

Tokens: identifiers (Unicode word characters), numbers, operators and punctuation
(multi-character operators as one token), and a newline together with the next line's
indentation (``"\\n    "``). Spaces and tabs inside a line are skipped, so ``a=b`` and
``a = b`` lex alike; every token is an exact substring of the text, so a match maps back
to its characters. No token spans a newline except at its start: lexing can restart at
any ``"\\n"``, which is what makes incremental updates exact (:func:`relex`).
"""

from __future__ import annotations

import itertools
import keyword
import re
import threading
from dataclasses import dataclass

import numpy as np

_OPERATORS = sorted(
    "** // << >> <= >= == != -> := += -= *= /= %= &= |= ^= @= **= //= <<= >>= ... "
    "&& || ++ -- :: => === !== ?? ?. <=>".split(), key=len, reverse=True)
_PATTERN = re.compile(
    r"[ \t\f\v]*("
    r"\n[ \t]*"
    r"|[^\W\d]\w*"
    r"|\d[\w.]*"
    r"|" + "|".join(re.escape(op) for op in _OPERATORS) +
    r"|[^\s])",
)
SEPARATOR = 0
"""Token id between documents: never in a query, so no match crosses a document."""
KEEP_CONCRETE = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "cls"}
"""Identifiers the abstracted stream keeps as they are (keywords, ``self``, ``cls``): the
shape of a line, not a name the developer chose. Measured on the tuning package: keeping
the builtins too (``len``, ``str``, ...) or abstracting ``self`` lost exact lines or
precision."""
_IDENT_START = re.compile(r"[^\W\d]")


@dataclass
class Tokens:
    strings: list[str]
    starts: np.ndarray
    """int32 character offset of each token."""

    def __len__(self) -> int:
        return len(self.strings)


def normalize(text: str) -> str:
    """Line endings as ``\\n`` (offsets and lines refer to the normalised text)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def lex(text: str, base: int = 0) -> Tokens:
    """Tokens of ``text`` (already normalised); offsets are shifted by ``base``."""
    strings: list[str] = []
    starts: list[int] = []
    for m in _PATTERN.finditer(text):
        strings.append(m.group(1))
        starts.append(m.start(1))
    arr = np.fromiter(starts, dtype=np.int32, count=len(starts))
    if base:
        arr += base
    return Tokens(strings, arr)


def is_newline(token: str) -> bool:
    return token.startswith("\n")


def abstractable(token: str) -> bool:
    """Whether the identifier-abstracted stream replaces ``token`` by its class: an
    identifier (not a keyword, ``self`` or ``cls``); numbers, operators, punctuation and
    newlines stay as they are."""
    return token not in KEEP_CONCRETE and _IDENT_START.match(token) is not None


def starts_shape(token: str) -> bool:
    """Whether a lookup by shape may end its context with ``token`` (the token just before
    the cursor): not an identifier, a number, a string or comment delimiter (quotes, ``#``,
    a backslash) or a separator. The abstracted suffix array holds only such suffixes."""
    return bool(token) and token not in _NO_SHAPE_START and not abstractable(token) \
        and not token[0].isdigit()


_NO_SHAPE_START = frozenset(("'", '"', "`", "#", "\\", "\x00"))


def token_strings(text: str) -> list[str]:
    """The token strings of ``text`` without their offsets (the fast path for segments)."""
    return _PATTERN.findall(text)


def newline_offsets(text: str) -> np.ndarray:
    """int32 offsets of the ``"\\n"`` characters (each one starts a token)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.flatnonzero(codes == 10).astype(np.int32)


class Vocabulary:
    """Token string <-> int32 id; id 0 is the document separator. Thread-safe to grow."""

    def __init__(self, strings: list[str] | None = None) -> None:
        self.strings: list[str] = strings or ["\x00"]
        self.ids: dict[str, int] = {s: i for i, s in enumerate(self.strings)}
        self.newlines: set[int] = {i for i, s in enumerate(self.strings) if is_newline(s)}
        self._lock = threading.Lock()
        self._abstract = np.zeros(0, dtype=bool)

    def abstract_mask(self) -> np.ndarray:
        """bool per id: whether the abstracted stream replaces it (:func:`abstractable`);
        extended as the vocabulary grows."""
        n = len(self.strings)
        mask = self._abstract
        if len(mask) < n:
            more = np.fromiter(map(abstractable, self.strings[len(mask):n]), dtype=bool,
                               count=n - len(mask))
            mask = self._abstract = np.concatenate([mask, more])
        return mask[:n]

    def shape_starts(self) -> np.ndarray:
        """bool per id: :func:`starts_shape` (not cached: segments ask once, at build)."""
        return np.fromiter(map(starts_shape, self.strings), dtype=bool, count=len(self.strings))

    def abstract_table(self, ident: int) -> np.ndarray:
        """int32 id -> id in the abstracted stream: ``ident`` for an abstractable
        identifier, the id itself for anything else."""
        mask = self.abstract_mask()
        table = np.arange(len(mask), dtype=np.int32)
        table[mask] = ident
        return table

    def __len__(self) -> int:
        return len(self.strings)

    def encode(self, strings: list[str], grow: bool = True) -> np.ndarray:
        """ids of ``strings``; unknown ones get new ids (``grow``) or -1 (a query token the
        index has never seen matches nothing)."""
        ids = self.ids
        get = ids.get
        out = np.fromiter(map(get, strings, itertools.repeat(-1)), dtype=np.int32,
                          count=len(strings))
        if grow:
            missing = np.flatnonzero(out == -1).tolist()
            if missing:
                with self._lock:
                    for i in missing:
                        s = strings[i]
                        j = ids.get(s)
                        if j is None:
                            j = len(self.strings)
                            self.strings.append(s)
                            ids[s] = j
                            if is_newline(s):
                                self.newlines.add(j)
                        out[i] = j
        return out
