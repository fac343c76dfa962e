"""Property tests (hypothesis) for positions and edits, against reference implementations
that count with Python's own codecs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from codeward.server import positions

# Characters that break naive implementations: every LSP line break, the line breaks that
# str.splitlines knows and LSP does not, astral characters, multi-byte ones, lone surrogates.
ALPHABET = st.sampled_from(list("ab c(){}") + ["\n", "\r", "\r\n", "\x0c", "\x85", "\u2028",
                                               "é", "€", "😋", "𝕏", "\ud800", "\udfff"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)
ENCODING = st.sampled_from(positions.ENCODINGS)
WIDTH = {"utf-8": 1, "utf-16": 2, "utf-32": 4}
CODEC = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}


def ref_lines(text: str) -> list[tuple[int, int]]:
    """(start, content end) of each line, scanning character by character."""
    out, start, i = [], 0, 0
    while i < len(text):
        if text[i] in "\r\n":
            end = i
            i += 2 if text[i:i + 2] == "\r\n" else 1
            out.append((start, end))
            start = i
        else:
            i += 1
    out.append((start, len(text)))
    return out


def ref_units(text: str, encoding: str) -> int:
    return len(text.encode(CODEC[encoding], "surrogatepass")) // WIDTH[encoding]


def ref_to_offset(text: str, line: int, character: int, encoding: str) -> int:
    lines = ref_lines(text)
    if line >= len(lines):
        return len(text)
    start, end = lines[line]
    best = start
    for i in range(start, end + 1):
        if ref_units(text[start:i], encoding) <= character:
            best = i
    return best


@settings(max_examples=300, deadline=None)
@given(TEXT, st.integers(0, 12), st.integers(0, 60), ENCODING)
def test_to_offset_matches_the_reference(text: str, line: int, character: int,
                                         encoding: str) -> None:
    assert positions.to_offset(text, line, character, encoding) == \
        ref_to_offset(text, line, character, encoding)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.data(), ENCODING)
def test_position_round_trip_and_reference_units(text: str, data: st.DataObject,
                                                 encoding: str) -> None:
    offset = data.draw(st.integers(0, len(text)))
    if 0 < offset < len(text) and text[offset - 1:offset + 1] == "\r\n":
        offset -= 1  # inside a CRLF there is no position; its line end is one before
    line, character = positions.to_position(text, offset, encoding)
    start, _ = ref_lines(text)[line]
    assert character == ref_units(text[start:offset], encoding)
    assert positions.to_offset(text, line, character, encoding) == offset


@settings(max_examples=200, deadline=None)
@given(TEXT, st.integers(0, 20), ENCODING)
def test_past_the_end_of_a_line_clamps_to_its_real_end(text: str, extra: int,
                                                       encoding: str) -> None:
    for line, (start, end) in enumerate(ref_lines(text)):
        length = ref_units(text[start:end], encoding)
        assert positions.to_offset(text, line, length + extra, encoding) == end


@settings(max_examples=200, deadline=None)
@given(TEXT, st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), TEXT), max_size=6),
       ENCODING)
def test_incremental_edits_equal_full_text_replacement(text: str, edits: list, encoding: str
                                                       ) -> None:
    """Edits sent as LSP ranges give the same text as splicing the offsets directly."""
    expected = text
    current = text
    for a, b, new in edits:
        a, b = sorted((min(a, len(expected)), min(b, len(expected))))
        for at in (a, b):
            if 0 < at < len(expected) and expected[at - 1:at + 1] == "\r\n":
                break
        else:
            start = positions.to_position(expected, a, encoding)
            end = positions.to_position(expected, b, encoding)
            expected = expected[:a] + new + expected[b:]
            current = positions.apply_change(current, start, end, new, encoding)
            assert current == expected


def test_splitlines_separators_are_not_line_breaks() -> None:
    text = "a\x0cb\u2028c\nd"
    assert positions.split_lines(text) == ["a\x0cb\u2028c\n", "d"]
    assert positions.to_position(text, text.index("d")) == (1, 0)


def test_empty_document() -> None:
    assert positions.to_offset("", 0, 0) == 0
    assert positions.to_offset("", 5, 5) == 0
    assert positions.to_position("", 0) == (0, 0)
    assert positions.to_position("abc", 3) == (0, 3)
