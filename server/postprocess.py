"""Clean-up of raw model output before it is vetted and shown.

- :func:`wants_multiline`: single- vs multi-line from the syntax around the cursor;
- :func:`truncate_block`: a multi-line completion ends where its block ends;
- :func:`trim_suffix_overlap`: text the suffix already has (closing brackets, echoed lines);
- :func:`cut_repetition`: repeated lines and runaway repeated patterns;
- :func:`cut_unmatched_closer`: a closing bracket that closes nothing;
- :func:`clean`: all of the above, in order; returns "" for nothing worth showing.
"""

from __future__ import annotations

import re

from codeward.analyzers.source import scan_brackets

from . import syntax

CLOSERS = set(")]}>\"'`:;,")


def current_line_prefix(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1:]


def current_line_suffix(suffix: str) -> str:
    end = suffix.find("\n")
    return suffix if end < 0 else suffix[:end]


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def wants_multiline(prefix: str, suffix: str, language: str) -> bool:
    """Multi-line at an empty line or right after a block opener; single-line mid-line,
    inside strings and comments, and after a complete statement."""
    rest = current_line_suffix(suffix).strip().rstrip("\r")
    if rest and not set(rest) <= CLOSERS:
        return False
    line = current_line_prefix(prefix).rstrip("\r")
    if syntax.inside_string_or_comment(prefix + suffix, len(prefix), language):
        return False
    if not line.strip():
        return True
    openers = syntax.BLOCK_OPENERS.get(language, (":", "{"))
    return line.rstrip().endswith(openers)


def truncate_block(completion: str, prefix: str) -> str:
    """Cut a multi-line completion where its block ends: at the first non-blank line
    indented less than the block's first line."""
    line_prefix = current_line_prefix(prefix)
    lines = completion.split("\n")
    block_indent: int | None = None
    kept: list[str] = []
    for i, line in enumerate(lines):
        full = line_prefix + line if i == 0 else line
        if not full.strip():
            kept.append(line)
            continue
        ind = indent_of(full)
        if block_indent is None:
            if i == 0 and line_prefix.strip():
                # the cursor line already has code; the block is what follows it
                kept.append(line)
                continue
            block_indent = ind
        elif ind < block_indent:
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


def trim_suffix_overlap(completion: str, suffix: str, multiline: bool) -> str:
    """Remove what the suffix already has: the rest of the cursor line (or its closing
    brackets) at the end of a single line, echoed suffix lines at the end of a block."""
    rest = current_line_suffix(suffix).rstrip("\r")
    if not multiline and completion.startswith("\n"):
        return completion  # the next line, after a complete statement: nothing to overlap
    if not multiline or "\n" not in completion:
        first, sep, tail = completion.partition("\n")
        stripped_rest = rest.strip()
        if stripped_rest and first.rstrip().endswith(stripped_rest):
            first = first.rstrip()[: -len(stripped_rest)]
        else:
            for k in range(min(len(first), len(stripped_rest)), 0, -1):
                piece = stripped_rest[:k]
                if set(piece) <= CLOSERS and first.rstrip().endswith(piece):
                    first = first.rstrip()[:-k]
                    break
        return first + sep + tail if multiline else first
    suffix_lines = [ln.rstrip() for ln in suffix.split("\n") if ln.strip()][:8]
    lines = completion.split("\n")
    if suffix_lines:
        for size in range(min(len(lines) - 1, len(suffix_lines)), 0, -1):
            if [ln.rstrip() for ln in lines[-size:]] == suffix_lines[:size]:
                lines = lines[:-size]
                break
    return "\n".join(lines)


PREFIX_SCAN = 4000
"""Characters of the prefix scanned for open brackets."""


def cut_unmatched_closer(completion: str, prefix: str) -> str:
    """Cut the completion at a closing bracket that closes nothing the prefix or the
    completion itself opened (inside a string or comment brackets are text: no cut)."""
    stack: list[str] = []
    quote, _ = scan_brackets(prefix[-PREFIX_SCAN:], stack, cut=False)
    if quote:
        return completion
    _, at = scan_brackets(completion, stack, cut=True)
    return completion if at < 0 else completion[:at]


_PERIODIC = re.compile(r"(.{1,24}?)\1{4,}$", re.DOTALL)


def cut_repetition(completion: str, prefix: str) -> str:
    """Drop runs of the same line (kept once), a tail that repeats a short pattern, and a
    completion that only repeats the line above the cursor."""
    lines = completion.split("\n")
    out: list[str] = []
    for line in lines:
        if out and line.strip() and line.strip() == out[-1].strip() and len(out) >= 1:
            if len(out) >= 2 and out[-2].strip() == line.strip():
                break
            # a line repeated twice in a row is allowed once more only if short
            if len(line.strip()) > 20:
                break
        out.append(line)
    text = "\n".join(out)
    m = _PERIODIC.search(text)
    if m and len(m.group(0)) >= 12:
        text = text[: m.start()] + m.group(1)
    above = [ln.strip() for ln in prefix.split("\n")[:-1] if ln.strip()]
    if above and text.strip() and "\n" not in text.strip() and text.strip() == above[-1] \
            and len(text.strip()) > 3:
        return ""
    return text


def clean(completion: str, prefix: str, suffix: str, *, multiline: bool,
          max_lines: int = 12) -> str:
    """Everything in order. Returns "" when nothing worth showing is left."""
    text = completion.replace("\r\n", "\n")
    if not multiline:
        stripped = text.lstrip("\n")
        if stripped != text and current_line_prefix(prefix).strip() \
                and not current_line_suffix(suffix).strip():
            # the model went to the next line: keep exactly one following line
            text = "\n" + stripped.split("\n", 1)[0]
        else:
            text = text.split("\n", 1)[0]
    else:
        text = truncate_block(text, prefix)
        text = "\n".join(text.split("\n")[:max_lines])
    text = cut_repetition(text, prefix)
    text = trim_suffix_overlap(text, suffix, multiline)
    text = cut_unmatched_closer(text, prefix).rstrip()
    if not text.strip():
        return ""
    return text
