"""Turning a suggestion in its document into Python source an AST analyzer can read.

Completions are often partial, and the file around the cursor is often mid-edit, so
:func:`python_source` tries, in order, keeping document line numbers every time:

1. ``window``: the top-level statement(s) around the suggestion plus the file's imports
   (other lines blanked) -- cheap on a 2,000-line file;
2. ``repaired``: the window cut after the suggestion, with open strings and brackets
   closed and an empty block given ``pass``;
3. ``alone``: the suggestion's own lines, dedented and repaired.

It returns ``None`` when none of them parses: the caller must then fall back to the
tree-sitter pattern rules, never call the code clean.
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from dataclasses import dataclass
from functools import lru_cache

from .contract import VetContext

_TOP = re.compile(r"[A-Za-z_@]")
_IMPORT = re.compile(r"(import|from)\s")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


@dataclass
class Source:
    text: str
    """Python source whose line N is document line N (other lines may be blank)."""
    tree: ast.Module
    mode: str
    """``window``, ``repaired`` or ``alone``."""


def _window_bounds(lines: list[str], first: int, last: int) -> tuple[int, int]:
    """0-based [start, end) of the top-level statements covering lines first..last."""
    start = first - 1
    while start > 0 and not _TOP.match(lines[start]):
        start -= 1
    while start > 0 and lines[start - 1].startswith("@"):
        start -= 1
    end = last
    while end < len(lines) and not _TOP.match(lines[end]):
        end += 1
    return start, end


def _imports(lines: list[str], start: int, end: int) -> dict[int, str]:
    out: dict[int, str] = {}
    i = 0
    while i < len(lines):
        if (i < start or i >= end) and _IMPORT.match(lines[i]):
            out[i] = lines[i]
            if "(" in lines[i] and ")" not in lines[i]:
                while i + 1 < len(lines) and ")" not in lines[i]:
                    i += 1
                    out[i] = lines[i]
        i += 1
    return out


_TOP_LINE = re.compile(r"^[A-Za-z_@]", re.MULTILINE)
_IMPORT_LINES = re.compile(r"^(?:import|from)\s[^\n(]*(?:\([^)]*\))?[^\n]*", re.MULTILINE)
_TOP_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_@")


def _blank_except_imports(doc: str, lo: int, hi: int) -> list[str]:
    """``doc[lo:hi]`` (``lo`` at a line start) with every line but imports blanked.
    Finds "import" with ``str.find``: a line-anchored regex over 2,000 lines costs ~1 ms."""
    out: list[str] = []
    pos = lo
    i = doc.find("import", lo, hi)
    while i >= 0:
        line = doc.rfind("\n", 0, i) + 1
        m = _IMPORT_LINES.match(doc, line) if line >= pos else None
        if m is not None:
            stop = min(m.end(), hi)
            out += ("\n" * doc.count("\n", pos, line), doc[line:stop])
            pos = i = stop
        else:
            i += 6
        i = doc.find("import", i, hi)
    out.append("\n" * doc.count("\n", pos, hi))
    return out


def blank_outside_window(prefix: str, suggestion: str, suffix: str) -> tuple[str, str, bool]:
    """``prefix`` and ``suffix`` with every line outside the window blanked (the
    top-level statement(s) around the suggestion with their decorators, and the file's
    imports). Line numbers and the suggestion's own offsets in its lines are unchanged.
    The flag says whether a line the suggestion touches is itself a top-level statement
    (module-level rules then need the whole file). The document is never split into
    lines (that alone costs ~1 ms on 2,000 lines)."""
    doc = prefix + suggestion + suffix
    lo = prefix.rfind("\n") + 1  # start of the cursor line
    body_end = len(prefix) + len(suggestion) - suggestion.endswith("\n")
    hi = doc.find("\n", body_end)  # end of the suggestion's last line
    if hi < 0:
        hi = len(doc)
    top_level = _TOP_LINE.search(doc, lo, hi) is not None
    start = lo
    while start > 0 and doc[start:start + 1] not in _TOP_CHARS:
        start = doc.rfind("\n", 0, start - 1) + 1
    while start > 0:
        above = doc.rfind("\n", 0, start - 1) + 1
        if not doc.startswith("@", above):
            break
        start = above
    nxt = _TOP_LINE.search(doc, hi + 1)
    end = nxt.start() if nxt else len(doc)
    before = _blank_except_imports(doc, 0, start)
    after = _blank_except_imports(doc, end, len(doc))
    split = len(prefix) + len(suggestion)
    return ("".join(before) + doc[start:len(prefix)], doc[split:end] + "".join(after),
            top_level)


def _parse(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def scan_brackets(text: str, stack: list[str], cut: bool) -> tuple[str, int]:
    """Follow brackets outside strings and comments (Python lexing: quotes, triple quotes,
    backslash escapes, ``#`` comments), pushing expected closers on ``stack``. Returns the
    quote (or "#") ``text`` ends inside ("" when none) and, when ``cut``, the index of the
    first closer that closes nothing (-1 when none; without ``cut`` such closers are
    ignored)."""
    quote, i, n = "", 0, len(text)
    while i < n:
        ch = text[i]
        if quote == "#":
            quote = "" if ch == "\n" else quote
        elif quote:
            if ch == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if ch == "\n" and len(quote) == 1:
                quote = ""
        elif ch == "#":
            quote = "#"
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            continue
        elif ch in _CLOSERS:
            stack.append(_CLOSERS[ch])
        elif ch in ")]}":
            if stack and stack[-1] == ch:
                stack.pop()
            elif cut:
                return quote, i
        i += 1
    return quote, -1


def close_open(text: str) -> str:
    """``text`` with open string literals and brackets closed, and ``pass`` after a
    trailing block opener, so that a partial statement parses."""
    stack: list[str] = []
    quote, _ = scan_brackets(text, stack, cut=False)
    quote = "" if quote == "#" else quote
    body = text + quote
    stripped = body.rstrip()
    if stripped.endswith("\\"):
        body = stripped[:-1]
    elif stripped.endswith("."):
        body = stripped + "_"
    elif stripped.endswith(("=", "+", "-", "*", "/", "%", " and", " or", " not", " in",
                            " is", "<", ">", "|", "&")):
        body = stripped + " None"
    out = body + "".join(reversed(stack))
    stripped = out.rstrip()
    if stripped.endswith(":"):
        last = stripped.rsplit("\n", 1)[-1]
        indent = len(last) - len(last.lstrip())
        out = stripped + "\n" + " " * (indent + 4) + "pass"
    return out + "\n"


def python_source(ctx: VetContext) -> Source | None:
    return _python_source(ctx.prefix, ctx.suggestion, ctx.suffix)


@lru_cache(maxsize=32)
def _python_source(prefix: str, suggestion: str, suffix: str) -> Source | None:
    ctx = VetContext(prefix, suggestion, suffix)
    first, last = ctx.first_line, ctx.last_line
    window_prefix, window_suffix, _ = blank_outside_window(prefix, suggestion, suffix)
    window = window_prefix + suggestion + window_suffix
    tree = _parse(window)
    if tree is not None:
        return Source(window, prune(tree, first, last), "window")
    lines = ctx.document.split("\n")
    start, end = _window_bounds(lines, first, last)
    keep = _imports(lines, start, end)
    for i in range(start, min(end, len(lines))):
        keep[i] = lines[i]
    cut = "\n".join(keep.get(i, "") for i in range(last))
    repaired = close_open(cut)
    tree = _parse(repaired)
    if tree is not None:
        return Source(repaired, prune(tree, first, last), "repaired")
    body = textwrap.dedent("\n".join(ctx.suggestion_lines()))
    imports = [keep.get(i, "") if i in keep and _IMPORT.match(keep[i]) else ""
               for i in range(first - 1)]
    alone = "\n".join([*imports, close_open(body)])
    tree = _parse(alone)
    if tree is not None:
        return Source(alone, tree, "alone")
    return None


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _keep(node: ast.AST, first: int, last: int) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name | ast.Attribute):
        return True  # aliases such as ``run = subprocess.run``
    start = getattr(node, "lineno", None)
    end = getattr(node, "end_lineno", start)
    if start is None:
        return True
    return start <= last and (end or start) >= first


def prune(tree: ast.Module, first: int, last: int) -> ast.Module:
    """Drop, in place, statements that neither overlap lines first..last nor import or
    alias a name: the AST analyzers then visit only what matters to the suggestion."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for name in _BLOCKS:
            body = getattr(node, name, None)
            if isinstance(body, list) and body:
                kept = [n for n in body if _keep(n, first, last)]
                setattr(node, name, kept)
                stack.extend(n for n in kept if any(getattr(n, b, None) for b in _BLOCKS))
    return tree


@lru_cache(maxsize=1)
def ts_parser():  # type: ignore[no-untyped-def]
    import tree_sitter
    import tree_sitter_python

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))
