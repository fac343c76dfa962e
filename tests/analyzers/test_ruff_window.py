"""ruff on a window of a large file gives the findings and fixes of the whole file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from codeward.analyzers.contract import VetContext
from codeward.analyzers.source import _imports, _window_bounds, blank_outside_window
from codeward.analyzers.style import RuffAnalyzer, RuffOptions

FILLER = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(120))
HEAD = ("import os\nimport json\nfrom typing import TYPE_CHECKING\n\nCONST = 3\n\n"
        "if TYPE_CHECKING:\n    import sys\n\n\n")
FN = HEAD + FILLER + "def g(a):\n    "
# (prefix, suggestion, suffix, expected rule ids, windowed: one lint of the window only)
CASES = [
    (FN, "y = json.dumps(a)\n", "    return y\n" + FILLER, [], True),
    (FN, "return CONST + f3(a)\n", "\n" + FILLER, [], True),  # defined outside the window
    (FN, "return LATER + f3(a)\n", "\n" + FILLER + "LATER = 5\n", [], True),
    (HEAD + FILLER + "class C:\n    ", "v = LATER\n", "\n" + FILLER + "LATER = 5\n",
     ["ruff:F821"], False),  # a class body runs at once: LATER is not defined yet
    (FN, "return undefined_thing\n", "\n" + FILLER, ["ruff:F821"], True),
    (FN, "x = 1\n    return a\n", "\n" + FILLER, ["ruff:F841"], True),
    (FN, "import re\n    return a\n", "\n" + FILLER, ["ruff:F401"], True),
    (HEAD + FILLER, "import re\n", "\n" + FILLER, ["ruff:E402", "ruff:F401", "ruff:I001"],
     False),  # module level: needs the code above (E402) and the import block
    (FN, "x = foo(a, 'b", "\n" + FILLER, [], True),  # partial: ruff reports syntax only
    (HEAD + FILLER + "if TYPE_CHECKING:\n    ", "import re\n",
     "\n" + FILLER + "def h(r: re.Pattern) -> None:\n    pass\n", ["ruff:TC004"], False),
    (FN, 'return "%s" % a\n', "\n" + FILLER, ["ruff:UP031"], True),
    (FN, "return os.path.join(a, json.dumps(a))  # noqa\n", "\n" + FILLER, [], True),
]


@pytest.fixture(scope="module")
def ruff():
    analyzer = RuffAnalyzer()
    yield analyzer
    analyzer.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory, ruff) -> Path:
    root = tmp_path_factory.mktemp("ruff-window")
    (root / "ruff.toml").write_text('[lint]\nselect = ["F", "E", "W", "I", "UP", "TC"]\n')
    ruff.prepare(str(root / "big.py"), "python")  # as a document's opening does
    return root


@pytest.mark.parametrize("prefix,suggestion,suffix,rules,windowed", CASES)
def test_window_gives_the_whole_document_verdict(ruff, project, prefix, suggestion, suffix,
                                                 rules, windowed):
    ctx = VetContext(prefix, suggestion, suffix, path=str(project / "big.py"))
    server = ruff._start(str(project))
    sent: list[str] = []
    real = server.diagnostics

    def spy(uri, text, timeout):  # type: ignore[no-untyped-def]
        sent.append(text)
        return real(uri, text, timeout)

    server.diagnostics = spy  # type: ignore[method-assign]
    try:
        whole = ruff.analyze(ctx, RuffOptions(window_lines=0))
        assert len(sent) == 1 and len(sent[0]) == len(ctx.document)
        sent.clear()
        part = ruff.analyze(ctx, RuffOptions())
    finally:
        del server.diagnostics
    assert [f.rule_id for f in whole.findings] == rules
    assert (part.action, part.text, part.findings) == (whole.action, whole.text, whole.findings)
    if windowed:
        assert len(sent) == 1 and len(sent[0]) < len(ctx.document) / 5
    else:
        assert len(sent[-1]) == len(ctx.document)


def test_fix_verdict_through_the_window(ruff, project):
    ctx = VetContext(FN, 'return "%s" % a\n', "\n" + FILLER, path=str(project / "big.py"))
    verdict = ruff.analyze(ctx, RuffOptions())
    assert verdict.action == "fix" and verdict.text == 'return "{}".format(a)\n'


def _old_window(prefix: str, suggestion: str, suffix: str) -> str:
    ctx = VetContext(prefix, suggestion, suffix)
    lines = ctx.document.split("\n")
    start, end = _window_bounds(lines, ctx.first_line, ctx.last_line)
    keep = _imports(lines, start, end)
    for i in range(start, min(end, len(lines))):
        keep[i] = lines[i]
    return "\n".join(keep.get(i, "") for i in range(len(lines)))


def test_blank_outside_window_matches_the_line_based_window():
    source = (HEAD + "importance = 1\nx = 'import y'\nfrom a import (\n    b,\n    c)\n"
              + FILLER[:2000] + "@dec\n@dec2(1)\ndef zz():\n    import q\n    return q\n"
              + "class K:\n    def m(self):\n        pass\n\n" + FILLER[:500] + "import z")
    rng = random.Random(3)
    suggestions = ["return a\n", "x = (1,\n  2)\n", "", "import os\n", "foo(", "\n",
                   "a\nb\n", "def g():\n    pass\n", "@d\n", "from k import (\n"]
    for _ in range(1500):
        at = rng.randrange(len(source) + 1)
        suggestion = rng.choice(suggestions)
        prefix, suffix = source[:at], source[at:]
        new_prefix, new_suffix, _ = blank_outside_window(prefix, suggestion, suffix)
        assert new_prefix + suggestion + new_suffix == _old_window(prefix, suggestion, suffix)
        assert new_prefix.count("\n") == prefix.count("\n")
        assert new_prefix.rsplit("\n", 1)[-1] == prefix.rsplit("\n", 1)[-1]
