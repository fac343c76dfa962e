"""Golden cases per analyzer: a suggestion marked inside a file (``<<...>>``), the
expected rule ids and action."""

from __future__ import annotations

import pytest

from codeward.analyzers.contract import VetContext


def ctx(marked: str, **kw) -> VetContext:
    prefix, rest = marked.split("<<", 1)
    suggestion, suffix = rest.split(">>", 1)
    return VetContext(prefix, suggestion, suffix, **kw)


GOLDEN = [
    # bandit: only the suggestion's lines; pre-existing issues are not blamed on it
    ("bandit", "import os\nos.system(x)\n\ndef f(a):\n    <<return a + 1\n>>", set(), "allow"),
    ("bandit", "import yaml\n\ndef f(s):\n    <<return yaml.load(s)\n>>", {"B506"}, "block"),
    ("bandit", "import os\n\ndef f(c):\n    <<os.system(c)  # nosec\n>>",
     {"B605", "CW-SEC-NOSEC"}, "block"),
    ("bandit", "def f():\n    <<x = 1  # noqa: F841\n>>", {"CW-SEC-NOQA"}, "annotate"),
    ("bandit", "import subprocess\nx = foo(\n    <<subprocess.call(c, shell=True>>", {"B602"},
     "block"),
    ("security-rules", "import subprocess as sp\n\ndef f(c):\n    <<sp.run(c, shell=1)\n>>",
     {"CW-SEC-001"}, "block"),
    ("security-rules", "def f(c):\n    <<__import__('os').system(c)\n>>",
     {"CW-SEC-001", "CW-SEC-003"}, "block"),
    ("security-rules", "import subprocess\n<<subprocess.run(['sh', '-c', c])\n>>",
     {"CW-SEC-002"}, "block"),
    ("security-rules", "import subprocess as sp\nif (x and\n    <<sp.run(c, shell=True) +>>",
     {"CW-SEC-001"}, "block"),
    ("trojan-source", "<<s = 'a\u202eb'\n>>", {"CW-TROJAN-BIDI"}, "block"),
    ("trojan-source", "<<p\u0430ss = 1\n>>", {"CW-TROJAN-HOMOGLYPH"}, "block"),
    ("trojan-source", "<<x\u200d = 1\n>>", {"CW-TROJAN-INVISIBLE"}, "block"),
    ("trojan-source", "<<s = 'naïve café'\n>>", set(), "allow"),
    ("secrets", "<<KEY = 'AKIAQWERTYUIOPASDFGH'\n>>", {"CW-SECRET-AWS"}, "block"),
    ("secrets", "KEY = 'AKIAQWERTYUIOPASDFGH'\n<<x = 1\n>>", set(), "allow"),
    ("secrets", "<<url = 'redis://user:s3cretpw@cache:6379/0'\n>>", {"CW-SECRET-BASICAUTH"}, "block"),
    ("secrets", "<<password = os.environ['PW']\n>>", set(), "allow"),
    ("license", "<<# SPDX-License-Identifier: GPL-3.0-only\n>>", {"CW-LIC-SPDX"}, "block"),
    ("license", "<<# SPDX-License-Identifier: MIT\n>>", {"CW-LIC-SPDX"}, "annotate"),
    ("license", "<<# Copyright (c) 2019 Jane Doe <jane@example.com>\n>>",
     {"CW-LIC-COPYRIGHT"}, "annotate"),
    ("license", "# SPDX-License-Identifier: GPL-3.0-only\n<<import os\n>>", set(), "allow"),
    ("naming", "<<def BadName():\n    pass\n>>", {"CW-NAME-FUNCTION"}, "annotate"),
    ("naming", "<<class my_class:\n    pass\n>>", {"CW-NAME-CLASS"}, "annotate"),
    ("naming", "<<def good_name(x):\n    return x\n>>", set(), "allow"),
]


@pytest.mark.parametrize("name,marked,rules,action", GOLDEN)
def test_golden(pipeline, name, marked, rules, action):
    analyzer = pipeline.analyzers[name]
    options = pipeline._resolve({}).options[name]
    c = ctx(marked)
    import dataclasses

    c = dataclasses.replace(c, vetting=pipeline._resolve({}).vetting)
    verdict = analyzer.analyze(c, options)
    assert {f.rule_id.replace("CW-SECRET-AWSKEY", "CW-SECRET-AWS") for f in verdict.findings} \
        == rules, verdict
    assert verdict.action == action, verdict
    assert all(f.line >= 1 and f.reference for f in verdict.findings)


def test_naming_forbidden(pipeline):
    from codeward.analyzers.naming import NamingOptions

    opts = NamingOptions(forbidden_names=["foo"], forbidden_imports=["pickle"])
    v = pipeline.analyzers["naming"].analyze(ctx("<<import pickle.x\nfoo = 1\n>>"), opts)
    assert {f.rule_id for f in v.findings} == {"CW-NAME-FORBIDDEN", "CW-IMPORT-FORBIDDEN"}
    assert v.action == "block"


def test_ruff_fix_with_project_config(pipeline, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff.lint]\nselect = ["E", "F", "Q"]\n'
        '[tool.ruff.lint.flake8-quotes]\ninline-quotes = "single"\n')
    c = ctx('import os\n\n<<x = "a"\n>>print(os, x)\n', path=str(tmp_path / "m.py"))
    pipeline.prepare(c.path, "python", background=False)  # as the document's opening does
    v = pipeline.analyzers["ruff"].analyze(c, pipeline._resolve({}).options["ruff"])
    assert v.action == "fix" and v.text == "x = 'a'\n"
    assert [f.rule_id for f in v.findings] == ["ruff:Q000"]
    # an existing problem outside the suggestion is not reported
    c = ctx('y = "b"\n<<x = 1\n>>print(x, y)\n', path=str(tmp_path / "m.py"))
    v = pipeline.analyzers["ruff"].analyze(c, pipeline._resolve({}).options["ruff"])
    assert v.action == "allow" and not v.findings


def test_ruff_model_noqa_is_ignored(pipeline, tmp_path):
    (tmp_path / "ruff.toml").write_text('[lint]\nselect = ["E711"]\n')
    c = ctx("def f(x):\n    <<return x == None  # noqa\n>>", path=str(tmp_path / "m.py"))
    pipeline.prepare(c.path, "python", background=False)
    v = pipeline.analyzers["ruff"].analyze(c, pipeline._resolve({}).options["ruff"])
    assert "ruff:E711" in {f.rule_id for f in v.findings}
    assert v.action in ("fix", "annotate")
    if v.action == "fix":
        assert "noqa" in v.text and "is None" in v.text


def test_copied_code(pipeline):
    from copied import COPIED, RENAMED

    analyzer = pipeline.analyzers["copied-code"]
    options = pipeline._resolve({}).options["copied-code"]
    for text in (COPIED[0], RENAMED[0]):
        v = analyzer.analyze(VetContext("", text, ""), options)
        assert v.action == "block", v
        f = v.findings[0]
        assert f.rule_id == "CW-LIC-COPIED" and f.reference.startswith("GPL")
        assert "sourceslist.py" in f.message


def test_copied_code_without_index_is_skipped(pipeline, tmp_path):
    from codeward.analyzers.copied import CopiedCodeAnalyzer, CopiedOptions

    v = CopiedCodeAnalyzer().analyze(VetContext("", "x = 1\n", ""),
                                     CopiedOptions(index=str(tmp_path / "none.npz")))
    assert v.status == "skipped"
