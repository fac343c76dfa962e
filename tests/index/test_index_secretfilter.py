"""The secret filter's literal prefilter finds every line a pattern matches: the lines it
picks equal searching every pattern on every line (the slow reference)."""

from __future__ import annotations

from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from codeward.server.index import secretfilter

FRAGMENTS = [
    "AKIAIOSFODNN7EXAMPLQ", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "password = ",
    "'hunter2-correct-horse'", "github_pat_" + "a1" * 25, "Bearer ", "x" * 24,
    "sk_live_" + "Z9" * 10, "https://user:pa55word@host/x", "AP" + "1" * 12, "\u212aEY",
    "pa\u017fsword = 'abcdefghij'", "token:", " ", "\n", "=", "'", '"', "abc", "é",
    "xoxb-1234567890-abcdefghij", "12345678:" + "a" * 35, "api_key", "\t", "-", "_",
]


def _reference(text: str) -> set[int]:
    lines = text.split("\n")
    starts = [0, *accumulate(len(line) + 1 for line in lines)]
    found = set()
    for pattern, _, _ in secretfilter._plans():
        for n in range(len(lines)):
            if pattern.search(text, max(0, starts[n] - 1), starts[n + 1] - 1):
                found.add(n)
    return found


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_prefilter_finds_the_lines_every_pattern_finds(parts: list[str]):
    text = "".join(parts)
    lines = text.split("\n")
    starts = [0, *accumulate(len(line) + 1 for line in lines)]
    assert secretfilter._candidate_lines(text, starts) == _reference(text)


def test_a_branch_after_a_common_prefix_still_has_a_literal():
    plans = {p.pattern: best for p, _, best in secretfilter._plans()}
    github = next(best for pat, best in plans.items() if "github_pat_" in pat)
    assert set(github) == {"gh", "github_pat_"}


def test_case_insensitive_literals_see_the_letters_python_folds_to_ascii():
    text = "x = 1\npa\u017fsword = 'abcdefghij'\n\u212aEY = 2\n"
    lines = text.split("\n")
    starts = [0, *accumulate(len(line) + 1 for line in lines)]
    assert secretfilter._candidate_lines(text, starts) == _reference(text) == {1}
