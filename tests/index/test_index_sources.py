"""What enters the index: .gitignore, excludes, caps, secrets; the cache; provenance and
the license policy; accepted text."""

from __future__ import annotations

import stat
from pathlib import Path

from codeward.server.index import ProjectIndex, Provenance, SourceDoc
from codeward.server.index.policy import license_finding
from codeward.server.settings import IndexSettings

BODY = "def handler(event, context):\n    payload = decode(event)\n    return respond(payload)\n"
PREFIX = "def handler(event, context):\n    payload = decode(event)\n    "


def _workspace(root: Path) -> None:
    (root / ".gitignore").write_text("generated/\n*.tmp.py\n")
    (root / "generated").mkdir()
    (root / "generated" / "g.py").write_text(BODY.replace("respond", "from_generated"))
    (root / "x.tmp.py").write_text(BODY.replace("respond", "from_tmp"))
    (root / "local_settings.py").write_text(BODY.replace("respond", "from_excluded"))
    (root / "big.py").write_text(BODY.replace("respond", "from_big") + "#" * 5000)
    (root / "keys.py").write_text(
        "AWS_KEY = 'AKIAIOSFODNN7EXAMPLQ'\n"
        "db_password = 'hunter2-correct-horse'\n"
        "KEY = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75kquvwxyz\n"
        "-----END RSA PRIVATE KEY-----'''\n"
        "def connect():\n    return open_db(password=db_password)\n")
    (root / "app.py").write_text(BODY)


def _texts(idx: ProjectIndex) -> str:
    return "\n".join(d.text for s in idx._segs for d in s.segment.docs)


def test_ignored_excluded_oversized_files_and_secrets_never_enter(tmp_path: Path):
    _workspace(tmp_path)
    idx = ProjectIndex(IndexSettings(cache=False, max_file_bytes=2000))
    report = idx.build_workspace(tmp_path, ["local_settings.py"])
    assert report.files == 2  # app.py, keys.py
    assert report.skipped["ignored"] == 1 and report.skipped["ignored-dir"] >= 1
    assert report.skipped["excluded"] == 1 and report.skipped["too-large"] == 1
    assert report.skipped["secret-lines"] >= 4
    texts = _texts(idx)
    for absent in ("from_generated", "from_tmp", "from_excluded", "from_big", "AKIA",
                   "hunter2", "MIIEpAIBAAKCAQEA", "BEGIN RSA"):
        assert absent not in texts
    assert "open_db(password=db_password)" in texts  # no literal: not a secret
    assert [c.text for c in idx.suggest("new", PREFIX, "\n")] == ["return respond(payload)"]
    assert not any("AKIA" in c.text for c in idx.suggest("new", "AWS_KEY = '", "'\n"))


def test_a_secret_typed_into_an_open_document_is_not_indexed():
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.open_document("u", "x = 1\n", "/w/u.py")
    idx.update_document("u", "x = 1\ntoken = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'\n")
    assert "ghp_" not in idx._open["u"].text
    assert idx.suggest("other", "token = '", "'\n") == []


def test_segments_are_cached_by_content_hash_with_private_files(tmp_path: Path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "app.py").write_text(BODY)
    cache = tmp_path / "cache"
    first = ProjectIndex(IndexSettings(), cache_dir=cache)
    assert not first.build_workspace(tmp_path / "ws", []).cached
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    again = ProjectIndex(IndexSettings(), cache_dir=cache)
    report = again.build_workspace(tmp_path / "ws", [])
    assert report.cached
    assert [c.text for c in again.suggest("n", PREFIX, "\n")] == ["return respond(payload)"]
    (tmp_path / "ws" / "app.py").write_text(BODY.replace("respond", "reply"))
    assert not ProjectIndex(IndexSettings(), cache_dir=cache).build_workspace(
        tmp_path / "ws", []).cached


def test_a_copied_copyleft_snippet_carries_provenance_and_is_blocked(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nlicense = "MIT"\n')
    (tmp_path / "vendored.py").write_text("# SPDX-License-Identifier: GPL-3.0-only\n" + BODY)
    (tmp_path / "mine.py").write_text("# SPDX-License-Identifier: MIT\nx = 1\n")
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.build_workspace(tmp_path, [])
    (cand,) = idx.suggest("n", PREFIX, "\n")
    assert cand.text == "return respond(payload)"
    assert cand.provenance == Provenance(str(tmp_path / "vendored.py"), 4, "GPL-3.0-only",
                                         "workspace", False)
    finding = license_finding(cand.provenance, {})
    assert finding is not None and finding.action == "block"
    assert "vendored.py:4" in finding.message
    allowed = license_finding(cand.provenance,
                              {"license_policy": {"allow": ["GPL-3.0-only"], "block": []}})
    assert allowed is not None and allowed.action == "allow"
    own = Provenance(str(tmp_path / "mine.py"), 2, "MIT", "workspace", True)
    assert license_finding(own, {}) is None


def test_an_accepted_suggestion_is_found_by_the_next_lookup():
    idx = ProjectIndex(IndexSettings(cache=False))
    context = "def area(self):\n    "
    assert idx.suggest("n", context, "\n") == []
    idx.add_accepted("return self.width * self.height", context)
    (cand,) = idx.suggest("n", "class Box:\n" + context, "\n")
    assert cand.text == "return self.width * self.height"
    assert cand.provenance.source == "accepted"


def test_library_sources_are_labelled_with_their_license():
    from codeward.server.index.sources import stdlib_docs

    walk = stdlib_docs(200_000, 30)
    assert len(walk.docs) == 30
    assert all(d.source == "stdlib" and not d.own and d.license for d in walk.docs)


def test_add_documents_blanks_secrets_from_any_source():
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.add_documents([SourceDoc("/lib/a.py", "API_TOKEN = 'sk_live_abcdefghijklmnopqrstuvwx'\n"
                                 "x = 1\n", "package", "MIT", False)], label="lib")
    assert "sk_live" not in _texts(idx)


def test_one_changed_file_is_judged_by_the_walks_rules(tmp_path: Path):
    from codeward.server.index.sources import skip_reason

    _workspace(tmp_path)
    (tmp_path / "node_modules").mkdir()
    cases = {"app.py": "", "generated/g.py": "ignored-dir", "x.tmp.py": "ignored",
             "local_settings.py": "excluded", "big.py": "too-large", "notes.txt": "not-source",
             "node_modules/m.py": "ignored-dir", "gone.py": "missing"}
    for rel, why in cases.items():
        assert skip_reason(tmp_path, tmp_path / rel, ["local_settings.py"], 2000) == why, rel
    assert skip_reason(tmp_path, tmp_path.parent / "elsewhere.py", [], 2000) == "outside"


def test_a_cache_hit_skips_the_secret_filter_and_other_rules_miss(tmp_path: Path,
                                                                   monkeypatch) -> None:
    from codeward.server.index import secretfilter

    _workspace(tmp_path)
    cache = tmp_path.parent / f"{tmp_path.name}-cache"
    first = ProjectIndex(IndexSettings(), cache_dir=cache)
    assert first.build_workspace(tmp_path, []).skipped["secret-lines"] >= 4
    calls: list[int] = []
    real = secretfilter.blank_secrets_many
    monkeypatch.setattr(secretfilter, "blank_secrets_many",
                        lambda texts: calls.append(len(texts)) or real(texts))
    again = ProjectIndex(IndexSettings(), cache_dir=cache)
    assert again.build_workspace(tmp_path, []).cached and calls == []
    assert "AKIA" not in _texts(again) and "hunter2" not in _texts(again)
    monkeypatch.setattr(secretfilter, "fingerprint", lambda: "other rules")
    third = ProjectIndex(IndexSettings(), cache_dir=cache)
    assert not third.build_workspace(tmp_path, []).cached and calls
