"""Survival of accepted text, computed from the document's successive full texts.

After an acceptance the accepted characters are tracked as runs (``[start, end)`` in the
current text). Each new text is compared with the previous one (common prefix and suffix:
the edited region); characters of a run inside the replaced region are gone for good,
runs after it shift. ``kept`` is the number of accepted characters never deleted since:
retyping deleted text does not bring it back, and text typed inside the suggestion does not
count. Accepted-then-deleted shows as ``kept == 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def common_prefix(a: str, b: str) -> int:
    """Length of the common prefix (binary search over C-level slice comparisons)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def edit_region(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: ``old[start:old_end]`` became ``new[start:new_end]``."""
    p = common_prefix(old, new)
    limit = min(len(old), len(new)) - p
    s = common_prefix(old[::-1][:limit], new[::-1][:limit]) if limit > 0 else 0
    return p, len(old) - s, len(new) - s


@dataclass
class Tracker:
    completion_id: str
    candidate_index: int
    uri: str
    accepted: str
    accepted_at: float
    runs: list[list[int]] = field(default_factory=list)
    next_checkpoint: int = 0
    meta: dict[str, object] = field(default_factory=dict)
    span: list[int] | None = None
    """``[start, end)`` of the accepted text and whatever was typed into or right after it
    (``written.move``): what ``written.edited_row`` reads at the final measurement."""
    redactor: Any = None
    original: str = ""
    """The whole candidate (of which ``accepted`` may be a part)."""
    prefix_chars: int = 0

    @property
    def kept(self) -> int:
        return sum(e - s for s, e in self.runs)

    def apply(self, start: int, old_end: int, new_end: int) -> None:
        """Update the runs for ``old[start:old_end]`` replaced by ``new[start:new_end]``."""
        delta = (new_end - start) - (old_end - start)
        runs: list[list[int]] = []
        for s, e in self.runs:
            if e <= start:  # entirely before the edit
                runs.append([s, e])
            elif s >= old_end:  # entirely after: shift
                runs.append([s + delta, e + delta])
            else:  # overlaps the replaced region: keep the parts outside it
                if s < start:
                    runs.append([s, start])
                if e > old_end:
                    runs.append([new_end, e + delta])
        self.runs = [r for r in runs if r[1] > r[0]]


def locate(text: str, accepted: str, near: int, radius: int = 4000) -> int | None:
    """Where ``accepted`` sits in ``text``: the occurrence nearest ``near``."""
    if not accepted:
        return None
    best: int | None = None
    pos = text.find(accepted, max(0, near - radius))
    while pos != -1 and pos <= near + radius:
        if best is None or abs(pos - near) < abs(best - near):
            best = pos
        pos = text.find(accepted, pos + 1)
    return best


def expected_after_accept(text: str, offset: int, accepted: str) -> str:
    """The text once ``accepted`` is inserted at ``offset``, over whatever part of it the
    user had already typed there (typing into the ghost text)."""
    typed = common_prefix(text[offset:offset + len(accepted)], accepted)
    return text[:offset] + accepted + text[offset + typed:]
