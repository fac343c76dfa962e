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
