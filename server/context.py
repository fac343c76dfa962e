"""Prompt building: prefix and suffix under a token budget, plus cross-file snippets.

Plain functions on plain data. The token counting comes from the engine (``Budgeter``);
the FIM layout from the family table (``fim.py``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Protocol

from . import syntax
from .fim import FimFamily


class Budgeter(Protocol):
    def count_tokens(self, text: str) -> int: ...
    def tail_within(self, text: str, budget: int) -> str: ...
    def head_within(self, text: str, budget: int) -> str: ...


@dataclass
class OtherDocument:
    path: str
    language: str
    text: str


@dataclass
class Prompt:
    text: str
    prefix: str
    suffix: str
    crossfile: str = ""
    sources: list[str] = field(default_factory=list)
    static_chars: int = 0
    """Length of the head of ``text`` that stays the same while the user types near the
    cursor (the engine caches the model state for it; 0 = nothing to cache)."""


@dataclass
class Budget:
    total: int
    suffix: int
    crossfile: int
    prefix: int


def split_budget(total: int, suffix_share: float, crossfile_share: float,
                 reserved: int = 8) -> Budget:
    """Split ``total`` prompt tokens between cross-file snippets, suffix and prefix.

    ``reserved`` covers the FIM special tokens. The prefix gets what is left, and any
    share the suffix or snippets do not use is given back to it by :func:`build_prompt`.
    """
    usable = max(0, total - reserved)
    suffix = int(usable * suffix_share)
    crossfile = int(usable * crossfile_share)
    return Budget(total=total, suffix=suffix, crossfile=crossfile,
                  prefix=usable - suffix - crossfile)


def is_excluded(path: str, patterns: list[str]) -> bool:
    """True when the file's name or path matches one of the exclude globs."""
    if not path:
        return False
    pure = PurePath(path)
    return any(fnmatch.fnmatch(pure.name, p) or fnmatch.fnmatch(str(pure), p)
               or pure.match(p) for p in patterns)


def crossfile_snippets(current_path: str, language: str, others: list[OtherDocument],
                       budgeter: Budgeter, budget: int, exclude: list[str],
                       comment: str) -> tuple[str, list[str]]:
    """Imports and signatures of other open documents of the same language, as comment
    lines (``comment``: the family's ``comment_prefix``), most recently listed documents
    first, within ``budget`` tokens."""
    if budget <= 0:
        return "", []
    blocks: list[str] = []
    sources: list[str] = []
    used = 0
    for doc in others:
        if doc.language != language or doc.path == current_path or is_excluded(doc.path, exclude):
            continue
        lines = syntax.outline(doc.text, language)
        if not lines:
            continue
        name = PurePath(doc.path).name if doc.path else "untitled"
        block = f"{comment}Path: {name}\n" + "".join(f"{comment}{line}\n" for line in lines)
        cost = budgeter.count_tokens(block)
        if used + cost > budget:
            block = budgeter.head_within(block, budget - used)
            if not block.strip():
                break
            cost = budgeter.count_tokens(block)
        blocks.append(block)
        sources.append(doc.path)
        used += cost
        if used >= budget:
            break
    return "".join(blocks), sources


def model_text(text: str) -> str:
    """Document text as the model sees it: LF line ends."""
    return text.replace("\r\n", "\n")


def build_prompt(family: FimFamily, prefix: str, suffix: str, budgeter: Budgeter,
                 budget: Budget, crossfile: str = "", sources: list[str] | None = None) -> Prompt:
    """Format the FIM prompt; the suffix and cross-file shares that are not used go to the
    prefix. The model sees LF line ends (what it was trained on) whatever the document
    uses, and a suffix of only whitespace (an editor's final newline after the cursor
    line) as no suffix at all: the model was trained on windows that end anywhere, where
    a lone newline as the whole suffix is rare, and a weak model continues differently
    after it."""
    prefix, suffix = model_text(prefix), model_text(suffix)
    if not suffix.strip():
        suffix = ""
    suffix_part = budgeter.head_within(suffix, budget.suffix)
    spare = budget.suffix - budgeter.count_tokens(suffix_part) if suffix_part else budget.suffix
    cross_cost = budgeter.count_tokens(crossfile) if crossfile else 0
    spare += max(0, budget.crossfile - cross_cost)
    prefix_part = budgeter.tail_within(prefix, budget.prefix + max(0, spare))
    start = align_window_start(prefix, len(prefix) - len(prefix_part))
    prefix_part = prefix[start:]
    full_prefix = crossfile + prefix_part
    text = family.format(full_prefix, suffix_part)
    # The cacheable head: everything in the prompt up to a line of the prefix a few lines
    # above the cursor (for suffix-first templates that includes the suffix).
    static = 0
    boundary = stable_boundary(prefix)
    if boundary > start:
        static = family.format("\0", suffix_part).index("\0") + len(crossfile) + boundary - start
    return Prompt(text=text, prefix=prefix_part, suffix=suffix_part, crossfile=crossfile,
                  sources=sources or [], static_chars=static)


WINDOW_GRID = 16
"""The prefix window starts on a line whose number is a multiple of this, so that its start
(and the cached model state) moves only every WINDOW_GRID lines as the user types on."""
STATIC_GRID = 8
"""The cached head ends at a line start at least 2 lines above the cursor, on this grid."""


def _line_start(text: str, line: int) -> int:
    pos = 0
    for _ in range(line):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return len(text)
    return pos


def align_window_start(prefix: str, start: int) -> int:
    """Move ``start`` forward to the next line on the WINDOW_GRID (never past the cursor's
    own line)."""
    if start <= 0:
        return 0
    line = prefix.count("\n", 0, start) + (0 if prefix[start - 1] == "\n" else 1)
    aligned = -(-line // WINDOW_GRID) * WINDOW_GRID
    pos = _line_start(prefix, aligned)
    last_line_start = prefix.rfind("\n") + 1
    return pos if start <= pos < last_line_start else start


def stable_boundary(prefix: str) -> int:
    """Offset in ``prefix`` where the part that stays stable while typing ends."""
    cursor_line = prefix.count("\n")
    line = ((cursor_line - 2) // STATIC_GRID) * STATIC_GRID
    return _line_start(prefix, line) if line > 0 else 0
