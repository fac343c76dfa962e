"""Longest-suffix-match lookups against a brute-force reference (property-based)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeward.server.index import ProjectIndex, SourceDoc, lex
from codeward.server.index.lookup import SAMPLE
from codeward.server.settings import IndexSettings

WORDS = ["a", "b", "c", "d", "(", ")", "=", "1"]
streams = st.lists(st.sampled_from(WORDS), min_size=0, max_size=60)


def text_of(tokens: list[str]) -> str:
    return " ".join(tokens)


def brute_force(docs: dict[str, list[str]], query: list[str],
                max_len: int) -> tuple[int, set[tuple[str, int]]]:
    """The longest k such that the last k query tokens occur in a document with a token
    after them, and the (document, index of that next token) of every such occurrence."""
    for k in range(min(len(query), max_len), 0, -1):
        pattern = query[-k:]
        found = {(path, e + 1) for path, toks in docs.items()
                 for e in range(k - 1, len(toks) - 1) if toks[e - k + 1: e + 1] == pattern}
        if found:
            return k, found
    return 0, set()


def _check(idx: ProjectIndex, docs: dict[str, list[str]], query: list[str],
           max_len: int) -> None:
    got = idx.lookup(text_of(query) + " ")
    k, expected = brute_force(docs, query, max_len)
    assert got.match_tokens == k
    occurrences = {(o.path, o.token) for o in got.occurrences}
    if len(expected) <= SAMPLE:
        assert occurrences == expected
    else:  # a sample of a large range: all real, all counted
        assert occurrences <= expected
        assert got.total == len(occurrences)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_docs=st.lists(streams, min_size=1, max_size=4),
       open_docs=st.lists(streams, max_size=2), query=streams,
       max_len=st.integers(min_value=1, max_value=12))
def test_lookup_matches_brute_force(segment_docs, open_docs, query, max_len):
    idx = ProjectIndex(IndexSettings(cache=False, max_match_tokens=max_len,
                                     sources=["documents", "workspace"]))
    docs = {f"/w/s{i}.py": toks for i, toks in enumerate(segment_docs)}
    idx.add_documents([SourceDoc(p, text_of(t)) for p, t in docs.items()], label="w")
    for i, toks in enumerate(open_docs):
        path = f"/w/o{i}.py"
        idx.open_document(path, text_of(toks), path)
        docs[path] = toks
    docs = {p: t for p, t in docs.items() if t}
    _check(idx, docs, query, max_len)


@settings(max_examples=60, deadline=None)
@given(doc=st.lists(st.sampled_from(WORDS), min_size=1, max_size=400),
       start=st.integers(min_value=0, max_value=390), length=st.integers(1, 10))
def test_a_query_cut_from_the_index_matches_in_full(doc, start, length):
    """A context copied from an indexed document matches at least its own length."""
    idx = ProjectIndex(IndexSettings(cache=False, max_match_tokens=64))
    idx.add_documents([SourceDoc("/w/d.py", text_of(doc))], label="w")
    piece = doc[start: start + length]
    if not piece or start + length >= len(doc):
        return
    assert idx.lookup(text_of(piece) + " ").match_tokens >= len(piece)


def test_unknown_token_matches_nothing_before_it():
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.add_documents([SourceDoc("/w/d.py", "a b c d")], label="w")
    assert idx.lookup("zzz c ").match_tokens == 1
    assert idx.lookup("qq ").match_tokens == 0


def test_lexer_tokens_are_exact_substrings():
    text = "def f(a, b=1):\n    return a**2 + 'x y'  # c\n"
    toks = lex(text)
    assert toks.strings[:4] == ["def", "f", "(", "a"]
    assert "\n    " in toks.strings and "**" in toks.strings
    for s, start in zip(toks.strings, toks.starts.tolist(), strict=True):
        assert text[start: start + len(s)] == s


def test_large_ranges_use_the_binary_search_path_and_agree():
    import random

    rng = random.Random(7)
    doc = [rng.choice("abc") for _ in range(30_000)]
    idx = ProjectIndex(IndexSettings(cache=False, max_match_tokens=40))
    idx.add_documents([SourceDoc("/w/big.py", text_of(doc))], label="w")
    for _ in range(20):
        query = [rng.choice("abcd") for _ in range(rng.randrange(1, 30))]
        got = idx.lookup(text_of(query) + " ")
        k, expected = brute_force({"/w/big.py": doc}, query, 40)
        assert got.match_tokens == k
        assert {(o.path, o.token) for o in got.occurrences} <= expected


def test_an_empty_cursor_line_does_not_copy_the_document_after_it():
    """At column 0 of an empty line the document's own prefix ends at the cursor, and what
    follows it there is the suffix: it must never be offered back."""
    from codeward.server.index import ProjectIndex
    from codeward.server.settings import IndexSettings

    index = ProjectIndex(IndexSettings(cache=False))
    prefix = "import os\nfrom a import b\n"
    suffix = "\nfrom c import d\n\n\ndef main():\n    return d\n"
    index.open_document("file:///m.py", prefix + suffix, path="/m.py")
    for multiline in (False, True):
        assert index.suggest("file:///m.py", prefix, suffix, multiline=multiline) == []
