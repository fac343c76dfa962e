"""The README's code blocks, so that editor tests run exactly what the README shows."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def block(lang: str, after: str) -> str:
    """The first ```lang block after the line containing ``after``."""
    text = README.read_text("utf-8")
    start = text.index(after)
    m = re.compile(rf"^```{re.escape(lang)}\n(.*?)^```", re.S | re.M).search(text, start)
    assert m, f"no ```{lang} block after {after!r} in README.md"
    return m.group(1)


DEMO_LINES = ["class Point:", "    def __init__(self, x, y):", "        self.x = x",
              "        self.y = y", "", "", "class Size:", "    def __init__(self, x, y):",
              "        self.x = x", "        self.y"]
"""The README demo file ("See it work without an editor"): the cursor goes at the end of
its last line, where the project index copies `` = y`` from the class above (the shipped
model's own suggestions are below the default confidence gate)."""
DEMO_LINE, DEMO_COL = len(DEMO_LINES), len(DEMO_LINES[-1])
"""1-based line and 0-based column of the cursor."""
DEMO_EXPECTED = "        self.y = y"


def demo_source(eol: str = "\n") -> str:
    """The demo file, checked against the README's ``printf`` line."""
    text = eol.join(DEMO_LINES) + eol
    printf = block("bash", "See it work without an editor").splitlines()[0]
    m = re.search(r"printf '(.*?)'", printf)
    assert m and m.group(1).replace("\\n", "\n") == "\n".join(DEMO_LINES) + "\n", printf
    return text
