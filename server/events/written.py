"""What the developer wrote instead of a suggestion, and how an accepted one was edited.

Both come from the document's successive full texts (the ``didChange`` stream), like
survival (``survival``):

* **Written instead.** When a completion is served, a :class:`Watch` anchors at its cursor.
  The span ``[start, end)`` grows with what is typed, pasted or undone there (an insertion at
  the anchor or at the span's end belongs to it; edits before it shift it, edits after it
  are ignored). It ends when the line is complete (a newline typed), when a multi-line
  completion's block is complete (a following line at the anchor's indentation or less),
  when ``window_s`` passes, or at close; then one ``written`` row holds the span's text,
  redacted like every event. An acceptance of any of the completion's candidates cancels it
  (nothing was written instead), as does an edit that rewrites the text just before the
  anchor (the prompt no longer leads to what follows).
* **Edited after acceptance.** An accepted text is followed the same way (a ``span`` on its
  survival tracker); at its final survival measurement, if the lines it covered now read
  differently, one ``edited`` row holds them (redacted): the developer's version, preferred
  over the original suggestion.

Rows carry the completion id (and the candidate index for ``edited``), never the document.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .redact import Redactor, window_after, window_before
from .survival import Tracker, edit_region

BLOCK_OPENERS = (":", "{", "(", "[")
MAX_WATCHES = 64
MAX_LINES = 40
SLIDE = 256


def _slide(old: str, new: str, region: tuple[int, int, int], a: int, b: int,
           ) -> tuple[int, int, int]:
    """The edit ``old -> new`` (``region``: ``edit_region(old, new)``); a pure insertion or
    deletion that could equally sit further left (repeated characters: typing "c" after
    "abc" looks like an insertion after the "c") is moved left onto the span ``[a, b]``."""
    s, oe, ne = region
    insertion, deletion = oe == s, ne == s
    if insertion == deletion:  # a replacement (or no change): no ambiguity
        return s, oe, ne
    length = (ne - s) if insertion else (oe - s)
    k = 0
    while k < SLIDE and s - k > 0 and not _touches(s - k, length, insertion, a, b):
        p = s - k
        same = old[p - 1] == new[p + length - 1] if insertion else old[p - 1] == old[p + length - 1]
        if not same:
            return s, oe, ne
        k += 1
    if not _touches(s - k, length, insertion, a, b):
        return s, oe, ne
    s -= k
    return (s, s, s + length) if insertion else (s, s + length, s)


def _touches(p: int, length: int, insertion: bool, a: int, b: int) -> bool:
    return a <= p <= b if insertion else a <= p and p + length <= b


def move(span: list[int], old: str, new: str, *, grow_at_start: bool,
         region: tuple[int, int, int] | None = None) -> bool:
    """Update ``span`` (``[start, end)`` in ``old``) in place for the edit ``old -> new``.
    Returns False when the edit replaced text right before the span and reached into it
    (or, with ``grow_at_start``, deleted text ending at its start): the span's left context
    is gone. ``region``: ``edit_region(old, new)`` when the caller has it already."""
    a, b = span
    s, oe, ne = _slide(old, new, region or edit_region(old, new), a, b)
    delta = (ne - s) - (oe - s)
    if oe == s:  # insertion
        if s < a or (s == a and not grow_at_start):
            span[:] = [a + delta, b + delta]
        elif s <= b:
            span[1] = b + delta
        return True
    if oe <= a:  # deletion or replacement before the span
        span[:] = [a + delta, b + delta]
        return not (grow_at_start and oe == a)
    if s >= b:  # after it
        return True
    if s >= a:  # inside it, or from inside it on past its end
        span[1] = b + delta if oe <= b else ne
        return True
    span[:] = [s, max(ne, b + delta)]  # from before it into it
    return False


def _indent(text: str, offset: int) -> int:
    line_start = text.rfind("\n", 0, offset) + 1
    head = text[line_start:offset]
    return len(head) - len(head.lstrip(" \t"))


def finished(written: str, indent: int, block: bool) -> str | None:
    """The written text once the line (or, for a block, the block) is complete, else None."""
    first, nl, rest = written.partition("\n")
    if not nl:
        return None
    if not (block and first.rstrip().endswith(BLOCK_OPENERS)):
        return first
    lines = [first]
    for line in rest.split("\n"):
        body = line.lstrip(" \t")
        if body and len(line) - len(body) <= indent:
            return "\n".join(lines).rstrip("\n")
        lines.append(line)
        if len(lines) > MAX_LINES:
            return "\n".join(lines[:MAX_LINES])
    return None


@dataclass
class Watch:
    completion_id: str
    uri: str
    span: list[int]
    started_at: float
    indent: int
    block: bool
    meta: dict[str, Any]
    redactor: Redactor
    prefix_chars: int
    suffix_chars: int
    candidates: dict[int, str] = field(default_factory=dict)


class Watches:
    """The open written-instead watches of every document (bounded: the oldest go first)."""

    def __init__(self, window_s: float, counts: Any) -> None:
        self.window_s = window_s
        self.counts = counts
        self.open: dict[str, Watch] = {}

    def start(self, watch: Watch, doc: str, current: str | None) -> None:
        """Anchor ``watch`` (its span is in ``doc``, the text the completion was made on)
        in ``current``, the processor's newest text of the document."""
        if current is not None and current is not doc and current != doc \
                and not move(watch.span, doc, current, grow_at_start=True):
            self.counts["written_prefix_edited"] += 1
            return
        watch.indent = _indent(current if current is not None else doc, watch.span[0])
        self.open[watch.completion_id] = watch
        while len(self.open) > MAX_WATCHES:
            self.open.pop(next(iter(self.open)))
            self.counts["written_evicted"] += 1

    def cancel(self, completion_id: str) -> None:
        if self.open.pop(completion_id, None) is not None:
            self.counts["written_accepted"] += 1

    def change(self, uri: str, old: str, new: str, at: float) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        watches = [(cid, w) for cid, w in self.open.items() if w.uri == uri]
        region = edit_region(old, new) if watches else None
        for cid, w in watches:
            if not move(w.span, old, new, grow_at_start=True, region=region):
                del self.open[cid]
                self.counts["written_prefix_edited"] += 1
                continue
            done = finished(new[w.span[0]:w.span[1]], w.indent, w.block)
            if done is not None:
                del self.open[cid]
                rows.extend(self._row(w, new, done, "block" if "\n" in done else "line", at))
        return rows

    def tick(self, now: float, texts: dict[str, str]) -> list[dict[str, Any]]:
        rows = []
        for cid, w in list(self.open.items()):
            if now - w.started_at >= self.window_s:
                del self.open[cid]
                text = texts.get(w.uri, "")
                rows.extend(self._row(w, text, text[w.span[0]:w.span[1]], "timeout", now))
        return rows

    def close(self, uri: str, text: str, now: float) -> list[dict[str, Any]]:
        rows = []
        for cid, w in list(self.open.items()):
            if w.uri == uri:
                del self.open[cid]
                rows.extend(self._row(w, text, text[w.span[0]:w.span[1]], "close", now))
        return rows

    def _row(self, w: Watch, text: str, written: str, end: str, at: float,
             ) -> list[dict[str, Any]]:
        written = written.rstrip("\n")
        if not written.strip():
            self.counts["written_empty"] += 1
            return []
        start = w.span[0]
        before = window_before(text, start, w.prefix_chars)
        after = window_after(text, start + len(written), w.suffix_chars)
        (_, red, _), counts = w.redactor.redact_parts([before, written, after])
        same = [i for i, c in sorted(w.candidates.items()) if c.rstrip("\n") == written]
        self.counts["written"] += 1
        return [{"type": "written", "event_id": uuid.uuid4().hex, **w.meta,
                 "candidate_index": None, "at": at, "text": red, "end": end,
                 "chars": len(written), "lines": written.count("\n") + 1,
                 "after_s": round(at - w.started_at, 3),
                 "same_as_candidate": same[0] if same else None,
                 "redactions": dict(counts)}]


def edited_row(t: Tracker, text: str, at: float) -> dict[str, Any] | None:
    """The ``edited`` row of an accepted text whose lines now read differently (or None):
    the lines the accepted text covered, as they are now in ``text``."""
    if t.span is None or t.redactor is None:
        return None
    s, e = t.span
    region = text[s:e]
    lines = t.accepted.count("\n")
    cut = region.split("\n")
    now = "\n".join(cut[:lines]) + "\n" if t.accepted.endswith("\n") and len(cut) > lines \
        else "\n".join(cut[:lines + 1])
    if now == t.accepted or not now.strip():
        return None
    before = window_before(text, s, t.prefix_chars)
    (_, red), counts = t.redactor.redact_parts([before, now])
    return {"type": "edited", "event_id": uuid.uuid4().hex, **t.meta,
            "completion_id": t.completion_id, "candidate_index": t.candidate_index,
            "at": at, "after_s": round(at - t.accepted_at, 3), "text": red,
            "how": "extended" if now.startswith(t.accepted) else "changed",
            "chars": len(now), "accepted_chars": len(t.accepted),
            "original_chars": len(t.original or t.accepted), "kept_chars": t.kept,
            "redactions": dict(counts)}
