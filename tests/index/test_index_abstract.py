"""Identifier-abstracted copies: lookups by shape against a brute-force reference, the
second stream after edits and merges equal to a rebuild, re-filling on hand cases, the gate,
and secrets that never come back through a renamed copy."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeward.server.index import ProjectIndex, SourceDoc, gate_index, persist
from codeward.server.index.abstract import MAX_CONTEXT, Known, align, refill
from codeward.server.index.lexer import abstractable, starts_shape
from codeward.server.index.lookup import SAMPLE
from codeward.server.settings import IndexSettings

WORDS = ["a", "b", "c", "self", "if", "(", ")", "=", ".", "1"]
streams = st.lists(st.sampled_from(WORDS), min_size=0, max_size=50)


def text_of(tokens: list[str]) -> str:
    return " ".join(tokens)


def shape(token: str) -> str:
    return "ID" if abstractable(token) else token


def brute_force(docs: dict[str, list[str]],
                query: list[str]) -> tuple[int, set[tuple[str, int]]]:
    """The longest k such that the last k query tokens occur in a document *up to the
    identifiers* with a token after them, and every such (document, next token index)."""
    if not query or not starts_shape(query[-1]):
        return 0, set()
    for k in range(min(len(query), MAX_CONTEXT), 0, -1):
        pattern = [shape(t) for t in query[-k:]]
        found = {(path, e + 1) for path, toks in docs.items()
                 for e in range(k - 1, len(toks) - 1)
                 if [shape(t) for t in toks[e - k + 1: e + 1]] == pattern}
        if found:
            return k, found
    return 0, set()


def _check(idx: ProjectIndex, docs: dict[str, list[str]], query: list[str]) -> None:
    got = idx.lookup(text_of(query) + " ", abstract=True)
    k, expected = brute_force({p: t for p, t in docs.items() if t}, query)
    assert got.match_tokens == k
    occurrences = {(o.path, o.token) for o in got.occurrences}
    if len(expected) <= SAMPLE:
        assert occurrences == expected
    else:
        assert occurrences <= expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.tuples(st.booleans(), streams), min_size=1, max_size=5),
       query=streams)
def test_shape_lookup_matches_brute_force(files, query):
    """Each file is in the workspace segment or open (a live document)."""
    idx = ProjectIndex(IndexSettings(cache=False, sources=["documents", "workspace"]))
    docs = {f"/w/{'o' if is_open else 's'}{i}.py": toks
            for i, (is_open, toks) in enumerate(files)}
    idx.add_documents([SourceDoc(p, text_of(t)) for p, t in docs.items() if "/s" in p],
                      label="w")
    for path in [p for p in docs if "/o" in p]:
        idx.open_document(path, text_of(docs[path]), path)
    _check(idx, docs, query)


edits = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 6),
                           st.sampled_from(["a", " b", "(", "\n    ", "self.", " = ", ""])),
                 min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(doc=streams, changes=edits, query=streams)
def test_the_shape_stream_after_edits_equals_a_rebuild(doc, changes, query):
    """An open document edited step by step answers lookups by shape exactly as the same
    text opened fresh; so does a changed file merged into a new segment."""
    text = text_of(doc)
    edited = ProjectIndex(IndexSettings(cache=False, sources=["documents"]))
    edited.open_document("/w/d.py", text, "/w/d.py")
    for at, cut, insert in changes:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut:]
        edited.update_document("/w/d.py", text)
    fresh = ProjectIndex(IndexSettings(cache=False, sources=["documents"]))
    fresh.open_document("/w/d.py", text, "/w/d.py")
    prefix = text_of(query) + " "
    a, b = edited.lookup(prefix, abstract=True), fresh.lookup(prefix, abstract=True)
    assert (a.match_tokens, a.occurrences, a.total) == (b.match_tokens, b.occurrences, b.total)


def test_a_merged_overlay_and_a_saved_segment_answer_like_a_fresh_build(tmp_path: Path):
    old = "class A:\n    def __init__(self, host, port):\n        self.host = host\n"
    new = "class B:\n    def __init__(self, user, key):\n        self.user = user\n"
    path = tmp_path / "m.py"
    path.write_text(old)
    idx = ProjectIndex(IndexSettings(cache=False, sources=["workspace"]), cache_dir=tmp_path)
    idx.add_documents([SourceDoc(str(path), old)], label=f"workspace:{tmp_path}")
    path.write_text(new)
    idx.file_changed(path)
    idx.merge_overlay()
    fresh = ProjectIndex(IndexSettings(cache=False, sources=["workspace"]))
    fresh.add_documents([SourceDoc(str(path), new)], label="w")
    prefix = "def __init__(self, name, size):\n        "
    assert idx.lookup(prefix, abstract=True) == fresh.lookup(prefix, abstract=True)
    assert idx.suggest("x", prefix, "\n")[-1].text == "self.name = name"

    seg = fresh._segs[0].segment
    persist.save(seg, tmp_path, "k")
    loaded = persist.load(tmp_path / "k.npz")
    assert loaded is not None and (loaded.asa == seg.asa).all()


# -- re-filling ----------------------------------------------------------------------------

SERVER = ("class Server:\n    def __init__(self, host, port):\n        self.host = host\n"
          "        self.port = port\n\n    def run(self):\n        return self.host\n")


def _index(*texts: str) -> ProjectIndex:
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.add_documents([SourceDoc(f"/w/f{i}.py", t) for i, t in enumerate(texts)], label="w")
    return idx


def _renamed(idx: ProjectIndex, prefix: str, suffix: str = "\n"):
    return [c for c in idx.suggest("doc", prefix, suffix) if c.abstracted]


def test_renamed_parameters_are_refilled_from_the_context():
    prefix = "import os\n\n\nclass Thing:\n    def __init__(self, name, size):\n        "
    first = _renamed(_index(SERVER), prefix)[0]
    assert first.text == "self.name = name"
    assert first.renamed == 2 and first.unbound == 0 and not first.cut
    assert first.provenance.path == "/w/f0.py" and first.provenance.line == 3
    assert first.match_tokens >= 12
    inputs = first.gate_inputs()
    assert inputs["abstracted"] is True and inputs["renamed"] == 2
    second = _renamed(_index(SERVER), prefix + "self.name = name\n        ")[0]
    assert second.text == "self.size = size"
    mid = _renamed(_index(SERVER), prefix + "self.na")[0]  # the cursor inside a word
    assert mid.text == "me = name"


def test_an_alignment_is_one_consistent_renaming():
    n, renaming = align(["(", "self", ",", "host", ",", "port", ")"],
                        ["(", "self", ",", "name", ",", "size", ")"])
    assert n == 7 and renaming == {"host": "name", "port": "size"}  # self is not renamed
    # the same source name cannot become two names, nor two source names one
    assert align(["host", ",", "host"], ["name", ",", "size"])[0] == 2
    assert align(["host", ",", "port"], ["name", ",", "name"])[0] == 2


def test_a_keyword_is_never_abstracted():
    assert not abstractable("return") and not abstractable("self") and abstractable("host")
    # "return x" does not align with "yield x": keywords are part of the shape
    assert align(["return", "host"], ["yield", "name"])[0] == 1
    idx = _index("def get(self, host):\n    return host\n")
    assert not any(c.text.startswith("return") for c in
                   _renamed(idx, "def get(self, name):\n    yield name\n    "))


def test_an_unbound_name_is_kept_only_when_the_document_has_it():
    known = Known("import logging\nlogger = logging.getLogger()\n")
    # "logger" is not bound by the renaming but the document has it: kept, counted
    text, renamed, unbound, cut = refill("self.x = logger", {"self": "self", "x": "y"}, known)
    assert (text, renamed, unbound, cut) == ("self.y = logger", 1, 1, False)
    # "port" is in neither: the copy stops before it
    text, renamed, unbound, cut = refill("self.x = port + 1", {"x": "y"}, known)
    assert (text, cut) == ("self.y =", True)
    # a kept name may not collide with a name the renaming produced
    text, _, _, cut = refill("self.f(x, logger)", {"f": "f", "x": "logger"}, known)
    assert cut and text == "self.f(logger,"


def test_unbound_copies_end_to_end():
    src = "def open_it(self, path):\n    self.path = path\n    self.fh = opener(path)\n"
    prefix = ("import io\nfh = None\nopener = io.open\n\n\ndef load(self, name):\n"
              "    self.name = name\n    ")
    first = _renamed(_index(src), prefix)[0]
    assert first.text == "self.fh = opener(name)" and first.unbound == 2  # fh, opener
    assert not first.cut and first.renamed == 1
    cut = _renamed(_index(src), prefix.replace("opener = io.open\n", ""))[0]
    assert cut.cut and cut.text == "self.fh ="
    s = IndexSettings(abstract_min_match_tokens=4, abstract_max_unbound=2,
                      abstract_min_occurrences=1)
    assert gate_index(first, s).show and not gate_index(cut, s).show
    assert gate_index(cut, IndexSettings(abstract_min_match_tokens=4, abstract_max_unbound=2,
                                         abstract_min_occurrences=1, abstract_cut=True)).show
    assert not gate_index(first, IndexSettings(abstract_min_match_tokens=4,
                                               abstract_min_occurrences=1)).show  # 2 unbound


# -- the gate ------------------------------------------------------------------------------

def test_the_gate_shows_a_renamed_copy_only_where_no_verbatim_copy_shows():
    prefix = "class Thing:\n    def __init__(self, name, size):\n        "
    cand = _renamed(_index(SERVER), prefix)[0]
    s = IndexSettings(abstract_min_match_tokens=12, abstract_min_occurrences=1)
    assert gate_index(cand, s, prefix).show
    assert not gate_index(cand, s, prefix, verbatim_shown=True).show
    strict = IndexSettings(abstract_min_match_tokens=cand.match_tokens + 1,
                           abstract_min_occurrences=1)
    decision = gate_index(cand, strict, prefix)
    assert not decision.show and decision.inputs["abstracted"] is True
    assert decision.inputs["needed_match_tokens"] == cand.match_tokens + 1
    assert not gate_index(cand, IndexSettings(abstract_min_match_tokens=12,
                                              abstract_min_occurrences=2), prefix).show


def test_no_renamed_copies_when_turned_off():
    idx = ProjectIndex(IndexSettings(cache=False, abstract=False))
    idx.add_documents([SourceDoc("/w/a.py", SERVER)], label="w")
    found = idx.suggest("doc", "def __init__(self, name, size):\n        ", "\n")
    assert found and not any(c.abstracted for c in found)


def test_a_secret_line_never_comes_back_renamed(tmp_path: Path, monkeypatch):
    """A blanked secret line has no shape to copy: the renamed copy of the lines around it
    never carries the secret (without the filter it would: the control below)."""
    secret = "9f8e7d6c5b4a3210"  # a number token: copied as it is by a renamed copy
    (tmp_path / "conf.py").write_text(
        "def setup(self, region, password):\n"
        "    self.region = region\n"
        f"    self.password = \"{secret}\"\n")
    (tmp_path / "skip.py").write_text(f"def other(self, a, password):\n    x = \"{secret}\"\n")
    prefix = "def connect(self, zone, password):\n    self.zone = zone\n    "

    def texts() -> list[str]:
        idx = ProjectIndex(IndexSettings(cache=False))
        idx.build_workspace(tmp_path, ["skip.py"])
        return [c.text for c in idx.suggest("doc", prefix, "\n")]

    assert not any(secret in t for t in texts())
    from codeward.server.index import secretfilter

    monkeypatch.setattr(secretfilter, "blank_secrets_many", lambda t: (t, 0))
    assert any(secret in t for t in texts())  # the control: unfiltered, it is copied


def test_under_the_gate_prior_a_renamed_copy_keeps_its_own_thresholds():
    """A prior fitted on verbatim copies scores only them; a renamed copy that passes its
    thresholds is shown after them, and only where the prior shows none of them. A prior
    fitted with renamed copies (``renamed``) scores every copy."""
    import dataclasses

    from codeward.server.index import prior as prior_mod
    from codeward.server.index.gate import GateDecision

    shipped = prior_mod.load_prior()
    assert shipped is not None
    # a prior fitted without renamed copies (no "renamed" field): they keep their thresholds
    prior = dataclasses.replace(shipped, info={**shipped.info, "renamed": False})

    def copies(passed: bool) -> list:
        return [("renamed", GateDecision(passed, {"abstracted": True, "renamed_passed": passed,
                                                 "features": {"abstracted": True}})),
                ("verbatim", GateDecision(False, {"features": {}}))]

    never = dataclasses.replace(prior, threshold=1.01)
    out = prior_mod.gate_copies(copies(True), never)
    assert [(c, d.show) for c, d in out] == [("verbatim", False), ("renamed", True)]
    assert "policy_score" not in out[1][1].inputs
    always = dataclasses.replace(prior, threshold=0.0)
    out = prior_mod.gate_copies(copies(True), always)
    assert [(c, d.show) for c, d in out] == [("verbatim", True), ("renamed", False)]
    assert not prior_mod.gate_copies(copies(False), never)[1][1].show
    # a prior fitted with them scores every copy, best first, renamed_passed as a feature
    every = dataclasses.replace(shipped, threshold=0.0, info={**shipped.info, "renamed": True})
    out = prior_mod.gate_copies(copies(False), every)
    assert all(d.show and "policy_score" in d.inputs for _, d in out)
    scores = [d.inputs["policy_score"] for _, d in out]
    assert scores == sorted(scores, reverse=True)
