"""Property tests (hypothesis) for post-processing invariants: a cleaned completion never
repeats what the suffix already has, and never closes a bracket that nobody opened."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from codeward.server import postprocess

WORD = st.text(alphabet="abcxyz_ 0123+*=.", min_size=1, max_size=12).filter(
    lambda s: s.strip() and not s.endswith(" "))
CODE = st.text(alphabet="abxy_ 01+=.,()[]{}:\n    ", max_size=40)
REST = st.sampled_from([")", "):", "]", "}", ", b)", ")]", " + 1)", "):\n"])
OPEN = {"(": ")", "[": "]", "{": "}"}


def unmatched_closers(prefix: str, text: str) -> list[str]:
    """Closers in ``text`` that match no bracket open in ``prefix + text`` (no strings or
    comments in these generated texts)."""
    stack: list[str] = []
    for ch in prefix:
        if ch in OPEN:
            stack.append(OPEN[ch])
        elif ch in ")]}" and stack and stack[-1] == ch:
            stack.pop()
    bad = []
    for ch in text:
        if ch in OPEN:
            stack.append(OPEN[ch])
        elif ch in ")]}":
            if stack and stack[-1] == ch:
                stack.pop()
            else:
                bad.append(ch)
    return bad


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["x = f(", "foo(a, ", "y = [1, ", "if ok(", "d = {"]), WORD, REST)
def test_single_line_never_repeats_the_rest_of_the_line(prefix: str, word: str,
                                                        rest: str) -> None:
    suffix = rest + "\nz = 2\n"
    out = postprocess.clean(word + rest.rstrip("\n"), prefix, suffix, multiline=False)
    line_rest = rest.rstrip("\n").strip()
    assert not out.rstrip().endswith(line_rest), (word, rest, out)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, min_size=1, max_size=4), st.lists(WORD, min_size=1, max_size=3))
def test_multi_line_never_ends_with_echoed_suffix_lines(body: list[str],
                                                        suffix_lines: list[str]) -> None:
    prefix = "def f(a):\n    "
    suffix = "\n" + "\n".join("    " + s for s in suffix_lines) + "\n"
    raw = "\n    ".join(body) + "\n" + "\n".join("    " + s for s in suffix_lines)
    out = postprocess.clean(raw, prefix, suffix, multiline=True)
    tail = [ln.rstrip() for ln in out.split("\n")][-len(suffix_lines):]
    assert tail != ["    " + s.rstrip() for s in suffix_lines] or \
        [ln.strip() for ln in body][-len(suffix_lines):] == [s.strip() for s in suffix_lines]


@settings(max_examples=400, deadline=None)
@given(CODE, CODE, st.booleans())
def test_never_closes_a_bracket_it_did_not_start(prefix: str, raw: str, multiline: bool
                                                 ) -> None:
    out = postprocess.clean(raw, prefix, "\n", multiline=multiline)
    assert unmatched_closers(prefix, out) == [], (prefix, raw, out)
