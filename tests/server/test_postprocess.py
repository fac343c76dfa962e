"""Golden cases for post-processing: a cursor marker ``█`` inside a file, the raw model
output, and what the user must see."""

from __future__ import annotations

import pytest

from codeward.server import postprocess

CURSOR = "█"


def split(marked: str) -> tuple[str, str]:
    assert marked.count(CURSOR) == 1
    prefix, suffix = marked.split(CURSOR)
    return prefix, suffix


MULTILINE_CASES = [
    # (file with cursor, expected multi-line decision)
    ("def f(x):█\n", True),
    ("def f(x):\n    █\n", True),
    ("x = foo(█)\n", False),
    ("x = 1█\n", False),
    ("s = 'abc█'\n", False),
    ("# a comment█\n", False),
    ("class A:\n    def m(self):\n        █\n\n", True),
    ("if ok:█  \n", True),
]


@pytest.mark.parametrize(("marked", "expected"), MULTILINE_CASES)
def test_multiline_decision(marked: str, expected: bool) -> None:
    prefix, suffix = split(marked)
    assert postprocess.wants_multiline(prefix, suffix, "python") is expected


GOLDEN = [
    # name, file with cursor, multiline, raw model output, expected shown text
    ("block ends at dedent", "def f(x):\n    █\n", True,
     "y = x + 1\n    return y\n\ndef g():\n    pass\n", "y = x + 1\n    return y"),
    ("after block opener", "def f(x):█\n", True,
     "\n    return x * 2\n\n\nclass B:\n    pass", "\n    return x * 2"),
    ("nested block kept", "def f(xs):\n    █\n", True,
     "for x in xs:\n        print(x)\n    return None\nprint('done')",
     "for x in xs:\n        print(x)\n    return None"),
    ("single line cut", "x = █\n", False, "compute(1)\ny = 2\n", "compute(1)"),
    ("closing bracket already there", "x = foo(█)\n", False, "a, b)", "a, b"),
    ("closing brackets and colon already there", "if check(█):\n", False, "a, b):", "a, b"),
    ("rest of line echoed", "total = █ + 1\n", False, "price + 1", "price"),
    ("echoed suffix lines removed", "def f():\n    █\n    return z\n", True,
     "z = 1\n    return z", "z = 1"),
    ("repeated lines cut", "def f():\n    █\n", True,
     "x.append(1)\n    x.append(1)\n    x.append(1)\n    x.append(1)", "x.append(1)\n    x.append(1)"),
    ("runaway pattern cut", "x = █\n", False, "[[[[[[[[[[[[[[[[[[[[[[", "["),
    ("whitespace only dropped", "x = █\n", False, "   \n", ""),
    ("empty dropped", "def f():\n    █\n", True, "", ""),
    ("echo of the line above dropped", "import os\nimport os█\n", False, "import os", ""),
    ("next line after a complete statement", "x = 1█\n", False, "\ny = 2\nz = 3", "\ny = 2"),
    ("crlf normalised", "def f():\r\n    █\r\n", True, "a = 1\r\n    b = 2\r\n", "a = 1\n    b = 2"),
]


@pytest.mark.parametrize(("name", "marked", "multiline", "raw", "expected"), GOLDEN,
                         ids=[g[0] for g in GOLDEN])
def test_golden(name: str, marked: str, multiline: bool, raw: str, expected: str) -> None:
    prefix, suffix = split(marked)
    assert postprocess.clean(raw, prefix, suffix, multiline=multiline) == expected


def test_max_lines() -> None:
    prefix, suffix = split("def f():\n    █\n")
    raw = "\n".join(f"    a{i} = {i}" for i in range(30)).lstrip()
    out = postprocess.clean(raw, prefix, suffix, multiline=True, max_lines=5)
    assert out.count("\n") == 4
