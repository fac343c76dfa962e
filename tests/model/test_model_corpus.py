from __future__ import annotations

import pytest

from codeward.finetune.corpus import classify_license, default_corpus, directory_source, is_heldout


@pytest.mark.parametrize(("expr", "classifiers", "kind"), [
    ("MIT", [], "permissive"),
    ("Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-3-Clause", [], "permissive"),
    ("Apache 2.0 License", [], "permissive"),
    ("GPL-3.0-or-later OR MIT", [], "permissive"),
    ("Apache-2.0 OR BSD-2-Clause", [], "permissive"),
    ("LGPL-3.0-only", [], "copyleft"),
    ("MPL-2.0 AND MIT", [], "copyleft"),
    ("MIT and MPL-2.0", [], "copyleft"),
    ("", ["License :: OSI Approved :: MIT License"], "permissive"),
    ("UNKNOWN", ["License :: OSI Approved :: Apache Software License"], "permissive"),
    ("", ["License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)"], "copyleft"),
    ("", ["License :: OSI Approved :: GNU General Public License (GPL)"], "copyleft"),
    ("", [], "unknown"),
    ("Copyright (c) 2013 Someone, all rights reserved", [], "unknown"),
    ("Proprietary", [], "unknown"),
])
def test_license_classification(expr, classifiers, kind):
    assert classify_license(expr, classifiers)[0] == kind


def test_heldout_split_is_deterministic_and_about_the_share():
    keys = [f"pkg/mod{i}.py" for i in range(5000)]
    held = [k for k in keys if is_heldout(k, 0.05)]
    assert held == [k for k in keys if is_heldout(k, 0.05)]
    assert 150 < len(held) < 350
    # a larger share only adds files: what was held out stays held out
    assert set(held) <= {k for k in keys if is_heldout(k, 0.1)}


def test_directory_source_skips_tests_and_caches(tmp_path):
    (tmp_path / "pkg" / "tests").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "tests" / "test_a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "__pycache__" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "notes.txt").write_text("x = 1\n")
    assert directory_source(tmp_path).files == ["pkg/a.py"]


def test_default_corpus_excludes_copyleft_and_unknown():
    corpus = default_corpus()
    names = {s.name.lower(): s for s in corpus.sources}
    assert "python-stdlib" in names and names["python-stdlib"].license == "PSF-2.0"
    for src in corpus.sources:
        assert classify_license(src.license)[0] == "permissive", src
    excluded = {e.name.lower(): e for e in corpus.excluded}
    for name in excluded:
        assert name not in names
    if "psycopg" in excluded:
        assert excluded["psycopg"].reason == "copyleft license"
    train, held = corpus.split(0.02)
    assert held and not {k for k, _ in train} & {k for k, _ in held}
