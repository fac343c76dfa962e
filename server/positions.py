"""LSP positions <-> offsets into a Python string, and incremental edits. Plain functions.

A position is a zero-based line and a character counted in the negotiated encoding's code
units (``utf-16`` for VS Code, ``utf-8`` for Neovim, ``utf-32`` = code points). Lines end at
``\\n``, ``\\r\\n`` or ``\\r`` only (the LSP's definition; ``str.splitlines`` also splits at
``\\x0c``, ``\\x85``, ``\\u2028`` and others, which would shift every later line).

Clamping, as the specification says: a character past the end of its line means the end of
that line (before its line break); a line past the last line means the end of the document.
A character that falls inside one encoded character (half a surrogate pair, the middle of a
UTF-8 sequence) means the start of that character. Text from clients is untrusted: lone
surrogates are counted as one unit in UTF-16 and three bytes in UTF-8, never raise.
"""

from __future__ import annotations

import re
from bisect import bisect_right

_EOL = re.compile(r"\r\n|\r|\n")
ENCODINGS = ("utf-8", "utf-16", "utf-32")


def normalize_encoding(encoding: object) -> str:
    """``PositionEncodingKind`` members, their values or None -> one of ENCODINGS."""
    value = str(getattr(encoding, "value", encoding) or "utf-16").lower()
    return value if value in ENCODINGS else "utf-16"


def line_starts(text: str) -> list[int]:
    """Offset of the first character of every line (the first is always 0)."""
    return [0, *(m.end() for m in _EOL.finditer(text))]


def _line_end(text: str, starts: list[int], line: int) -> int:
    """Offset of the end of ``line``'s content (before its line break)."""
    if line + 1 < len(starts):
        end = starts[line + 1] - 1
        if text[end] == "\n" and end > starts[line] and text[end - 1] == "\r":
            end -= 1
        return end
    return len(text)


def units(char: str, encoding: str) -> int:
    """Code units of one character in ``encoding``."""
    code = ord(char)
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def count_units(text: str, encoding: str) -> int:
    if encoding == "utf-32" or text.isascii():
        return len(text)
    return sum(units(c, encoding) for c in text)


def to_offset(text: str, line: int, character: int, encoding: str = "utf-16",
              starts: list[int] | None = None) -> int:
    """The offset in ``text`` of a client position (clamped; see the module docstring)."""
    starts = starts if starts is not None else line_starts(text)
    if line < 0:
        return 0
    if line >= len(starts):
        return len(text)
    start, end = starts[line], _line_end(text, starts, line)
    if character <= 0:
        return start
    content = text[start:end]
    if encoding == "utf-32" or content.isascii():
        return start + min(character, len(content))
    used = 0
    for i, char in enumerate(content):
        used += units(char, encoding)
        if used > character:
            return start + i
    return end


def to_position(text: str, offset: int, encoding: str = "utf-16",
                starts: list[int] | None = None) -> tuple[int, int]:
    """The client position (line, character) of an offset in ``text`` (clamped to the text)."""
    starts = starts if starts is not None else line_starts(text)
    offset = max(0, min(offset, len(text)))
    line = bisect_right(starts, offset) - 1
    start = starts[line]
    offset = min(offset, _line_end(text, starts, line))
    return line, count_units(text[start:offset], encoding)


def apply_change(text: str, start: tuple[int, int], end: tuple[int, int], new_text: str,
                 encoding: str = "utf-16") -> str:
    """``text`` with the range ``start``..``end`` (client positions) replaced by
    ``new_text``. A reversed range is taken in order."""
    starts = line_starts(text)
    a = to_offset(text, *start, encoding=encoding, starts=starts)
    b = to_offset(text, *end, encoding=encoding, starts=starts)
    if b < a:
        a, b = b, a
    return text[:a] + new_text + text[b:]


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their line breaks, split at LSP line breaks only."""
    starts = line_starts(text)
    lines = [text[a:b] for a, b in zip(starts, starts[1:], strict=False)]
    if starts[-1] < len(text):
        lines.append(text[starts[-1]:])
    return lines
