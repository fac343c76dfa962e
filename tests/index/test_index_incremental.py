"""Incremental updates equal a rebuild: live documents, changed files, merged overlays."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from codeward.server.index import ProjectIndex, SourceDoc, Vocabulary, lex
from codeward.server.index.livedoc import LiveDoc
from codeward.server.settings import IndexSettings

PIECES = ["x", " ", "\n", "    ", "(", ")", "==", "=", ":", "\n    ", "1", "def ", "ab"]
edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 6),
                           st.lists(st.sampled_from(PIECES), max_size=4)), max_size=40)


@settings(max_examples=100, deadline=None)
@given(start=st.lists(st.sampled_from(PIECES), max_size=60), steps=edits)
def test_live_document_edits_equal_a_fresh_lex(start, steps):
    vocab = Vocabulary()
    text = "".join(start)
    doc = LiveDoc(SourceDoc("d", text), vocab)
    for where, cut, inserted in steps:
        a = where % (len(text) + 1)
        b = min(len(text), a + cut)
        text = text[:a] + "".join(inserted) + text[b:]
        doc.update(text)
        fresh = lex(text)
        assert doc.ids.tolist() == vocab.encode(fresh.strings).tolist()
        assert doc.starts.tolist() == fresh.starts.tolist()
        assert doc.text == text


def _answers(idx: ProjectIndex, prefixes: list[str]) -> list[tuple[int, list[str]]]:
    out = []
    for p in prefixes:
        found = idx.suggest("none", p, "\n")
        out.append((idx.lookup(p).match_tokens, sorted(c.text for c in found)))
    return out


FILES = {
    "a.py": "def load(path):\n    with open(path) as fh:\n        return json.load(fh)\n",
    "b.py": "def save(path, data):\n    with open(path, 'w') as fh:\n        json.dump(data, fh)\n",
    "c.py": "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
}
PREFIXES = ["def load(path):\n    with open(path) as fh:\n        ",
            "    with open(path, 'w') as fh:\n        ", "        self.x = x\n        self.",
            "class Point:\n    def __init__(self, x, y):\n        "]


def test_changed_files_and_merged_overlay_equal_a_rebuild(tmp_path: Path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    live = ProjectIndex(IndexSettings(cache=False))
    live.build_workspace(tmp_path, [])
    (tmp_path / "a.py").write_text(FILES["a.py"].replace("json.load", "yaml.safe_load"))
    live.file_changed(tmp_path / "a.py")
    (tmp_path / "c.py").unlink()
    live.file_deleted(tmp_path / "c.py")
    (tmp_path / "d.py").write_text("        self.x = x\n        self.z = 0\n")
    live.file_changed(tmp_path / "d.py")
    rebuilt = ProjectIndex(IndexSettings(cache=False))
    rebuilt.build_workspace(tmp_path, [])
    assert _answers(live, PREFIXES) == _answers(rebuilt, PREFIXES)
    assert "return yaml.safe_load(fh)" in _answers(live, PREFIXES)[0][1]
    live.merge_overlay()
    assert live.status()["overlay_files"] == 0
    assert _answers(live, PREFIXES) == _answers(rebuilt, PREFIXES)


def test_an_open_document_shadows_its_file_and_returns_to_it_on_close(tmp_path: Path):
    (tmp_path / "a.py").write_text(FILES["a.py"])
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.build_workspace(tmp_path, [])
    path = str(tmp_path / "a.py")
    edited = FILES["a.py"].replace("json.load", "toml.load")
    idx.open_document("file://a", edited, path)
    found = idx.suggest("other", PREFIXES[0], "\n")
    assert [c.text for c in found] == ["return toml.load(fh)"]
    assert found[0].provenance.source == "document"
    idx.close_document("file://a")  # the file on disk still says json.load
    assert [c.text for c in idx.suggest("other", PREFIXES[0], "\n")] == \
        ["return json.load(fh)"]


def test_a_file_saved_while_open_stays_shadowed_by_the_open_document(tmp_path: Path):
    (tmp_path / "a.py").write_text(FILES["a.py"])
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.build_workspace(tmp_path, [])
    path = tmp_path / "a.py"
    idx.open_document("file://a", FILES["a.py"].replace("json.load", "toml.load"), str(path))
    path.write_text(FILES["a.py"].replace("json.load", "disk.load"))  # saved elsewhere
    idx.file_changed(path)
    assert [c.text for c in idx.suggest("other", PREFIXES[0], "\n")] == \
        ["return toml.load(fh)"]
    idx.close_document("file://a")
    assert [c.text for c in idx.suggest("other", PREFIXES[0], "\n")] == \
        ["return disk.load(fh)"]


def test_deleted_folders_and_files_deleted_during_a_build_stay_out(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    for name, text in FILES.items():
        (tmp_path / "pkg" / name).write_text(text)
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.build_workspace(tmp_path, [])
    (tmp_path / "new.py").write_text(FILES["a.py"].replace("json.load", "fresh.load"))
    idx.file_changed(tmp_path / "new.py")
    assert idx.suggest("other", PREFIXES[0], "\n")
    idx.file_deleted(tmp_path / "pkg")  # the folder: every file under it
    assert [c.text for c in idx.suggest("other", PREFIXES[0], "\n")] == \
        ["return fresh.load(fh)"]
    assert not any("self.x" in c.text for c in idx.suggest("other", PREFIXES[3], "\n"))
    # a build that read a file before it was deleted does not bring it back
    late = ProjectIndex(IndexSettings(cache=False))
    late.file_deleted(tmp_path / "pkg" / "c.py")
    late.add_documents([SourceDoc(str(tmp_path / "pkg" / "c.py"), FILES["c.py"])],
                       label="workspace")
    assert late.suggest("other", PREFIXES[3], "\n") == []
