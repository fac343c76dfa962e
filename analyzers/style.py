"""``ruff``: the project's own ruff configuration, applied to the suggestion in context.

The document goes to a long-running ``ruff server`` for the project root (found from the
document's path), so ruff uses that project's ``pyproject.toml``/``ruff.toml`` and
per-file settings. Only diagnostics on the suggestion's lines count.

On a large file only a window is linted (``window_lines``; about 1 ms instead of 4-5 ms
on 2,000 lines): the top-level statement around the suggestion plus the file's imports,
every other line blanked so line numbers stay put. The whole document is linted instead
when the window gives a diagnostic on the suggestion's lines that depends on code outside
it (``CONTEXT_RULES``: unused import, redefinition, import order...), an undefined name
that the rest of the file mentions but no plain top-level line defines, or a syntax error
before the suggestion (the window was cut inside a string), and when the suggestion
writes module-level code itself (redefinitions, import placement): the findings and fixes
are the ones the whole document gives.

When every edit of a diagnostic's fix lies inside the suggestion, the fix is applied and
the verdict is ``fix`` with the corrected text; other diagnostics are annotations (style
never blocks unless a rule is listed in ``block_rules``). ``# noqa`` comments written by
the model are neutralized before ruff sees the text (the ``bandit`` analyzer reports
them).

Rule ids are ruff's codes (``ruff:E711``...); the reference is ruff's rule page.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import bounded
from .contract import BaseAnalyzer, Finding, Verdict, VetContext, strictest
from .ruffclient import RuffServer
from .source import blank_outside_window

logger = logging.getLogger(__name__)

_NOQA = re.compile(r"(#[^\n]*?)\b(n)(o)(qa)\b", re.IGNORECASE)
ROOT_MARKERS = ("pyproject.toml", "ruff.toml", ".ruff.toml", ".git")
CONTEXT_RULES = ("F401", "F403", "F405", "F811", "F822", "F823", "E402", "I001",
                 "I002", "PLE0117", "PLE0118", "PLW0602", "PLW0603", "E30", "W391", "W292")
"""Rules whose verdict on the suggestion depends on code outside the window: when the
window gives one of them, the whole document is linted instead."""


@dataclass
class RuffOptions:
    fix: bool = True
    """Apply ruff's fixes that touch only the suggestion (verdict ``fix``)."""
    format: bool = False
    """Also format the suggestion's lines with ``ruff format`` (whole-line suggestions)."""
    ignore: list[str] = field(default_factory=list)
    """Ruff codes never reported."""
    block_rules: list[str] = field(default_factory=list)
    """Ruff codes that block the suggestion (e.g. ``["S"]`` prefixes work too)."""
    timeout_ms: float = bounded(1000.0, 1.0, 60000.0)
    """Longest wait for ruff's answer before the status is ``timeout``."""
    max_servers: int = bounded(4, 1, 32)
    window_lines: int = bounded(300, 0, 1000000)
    """Files longer than this are linted through a window around the suggestion (0 =
    always the whole document)."""


def project_root(ctx: VetContext) -> str | None:
    if ctx.project_root:
        return ctx.project_root
    if not ctx.path:
        return None
    for folder in Path(ctx.path).parents:
        if any((folder / m).exists() for m in ROOT_MARKERS):
            return str(folder)
    parent = Path(ctx.path).parent
    return str(parent) if parent.is_dir() else None


def _offsets(text: str) -> list[int]:
    starts = [0]
    find = text.find
    i = find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


def _pos(starts: list[int], p: dict[str, int], size: int) -> int:
    line = p["line"]
    if line >= len(starts):
        return size
    return min(size, starts[line] + p["character"])


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text


class RuffAnalyzer(BaseAnalyzer):
    """The project's ruff rules and fixes on the suggestion."""

    name = "ruff"
    category = "style"
    order = 10
    Options = RuffOptions
    languages = ("python",)

    def __init__(self) -> None:
        self._servers: OrderedDict[str | None, RuffServer] = OrderedDict()
        """Started servers per project root, each having answered a first lint."""
        self._starting: dict[str | None, threading.Thread] = {}
        self._lock = threading.Lock()
        self._limit = RuffOptions().max_servers
        self._closed = False

    def warm_up(self) -> None:
        self._start(None)

    def prepare(self, path: str | None, language: str) -> None:
        self._start(project_root(VetContext(prefix="", suggestion="", suffix="", path=path)))

    def _alive(self, root: str | None) -> RuffServer | None:
        """The started server for ``root`` if it is still running (under the lock)."""
        server = self._servers.get(root)
        if server is None or not server.alive():
            return None
        self._servers.move_to_end(root)
        return server

    def _start(self, root: str | None) -> RuffServer:
        """The ready server for ``root``, started (and given one throw-away lint, so it has
        read the project's configuration) if there is none: blocks for ruff's start."""
        me = threading.current_thread()
        while True:
            with self._lock:
                if (server := self._alive(root)) is not None:
                    return server
                other = self._starting.get(root)
                if other is None or other is me or not other.is_alive():
                    self._starting[root] = me
                    break
            other.join()  # another thread is starting it: its server is the one
        try:
            server = RuffServer(root)  # initialize, outside the lock: other roots go on
            server.diagnostics((Path(root or "/") / "codeward-warm-up.py").as_uri(),
                               "x = 1\n", 10.0)
            with self._lock:
                old = self._alive(root)
                if self._closed or old is not None:
                    server.close()  # closed meanwhile, or another thread's start won
                    if old is None:
                        raise RuntimeError("ruff analyzer closed")
                    return old
                self._servers[root] = server
                while len(self._servers) > max(1, self._limit):
                    self._servers.popitem(last=False)[1].close()
                return server
        finally:
            with self._lock:
                if self._starting.get(root) is me:
                    del self._starting[root]

    def _ready(self, root: str | None) -> RuffServer | None:
        """The ready server for ``root``, or None while it starts: a start is begun in the
        background if none is under way (a document's ``prepare`` begins one when it is
        opened). A completion never waits for ruff's start (hundreds of ms on a cold
        machine, more than the whole vetting budget)."""
        with self._lock:
            if (server := self._alive(root)) is not None:
                return server
            starting = self._starting.get(root)
            if starting is None or not starting.is_alive():
                starting = threading.Thread(target=self._start_quietly, args=(root,),
                                            daemon=True, name="codeward-ruff-start")
                self._starting[root] = starting
                starting.start()
        return None

    def is_ready(self) -> bool:
        """False while a project's server starts (``codeward/status`` says ``warming``)."""
        with self._lock:
            return not any(t.is_alive() for t in self._starting.values())

    def _start_quietly(self, root: str | None) -> None:
        try:
            self._start(root)
        except Exception:
            if self._closed:
                return
            logger.warning("ruff server for %s could not start", root or "/", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for server in self._servers.values():
                server.close()
            self._servers.clear()

    def analyze(self, ctx: VetContext, options: RuffOptions) -> Verdict:
        root = project_root(ctx)
        self._limit = options.max_servers
        server = self._ready(root)
        if server is None:
            return Verdict(status="warming", detail=f"ruff is starting for {root or '/'}")
        uri = Path(ctx.path).resolve().as_uri() if ctx.path else \
            (Path(root or "/") / "codeward-untitled.py").as_uri()
        suggestion = _NOQA.sub(lambda m: m.group(1) + m.group(2) + "0" + m.group(4),
                               ctx.suggestion)
        prefix, suffix, windowed = ctx.prefix, ctx.suffix, False
        if options.window_lines and not options.format and \
                ctx.prefix.count("\n") + ctx.suffix.count("\n") > options.window_lines:
            w_prefix, w_suffix, top_level = blank_outside_window(ctx.prefix, suggestion,
                                                                 ctx.suffix)
            if not top_level:
                prefix, suffix, windowed = w_prefix, w_suffix, True
        timeout = options.timeout_ms / 1000
        try:
            window = prefix + suggestion + suffix
            items = server.diagnostics(uri, window, timeout)
            if windowed:
                kept = _window_items(items, ctx, ctx.prefix + suggestion + ctx.suffix,
                                     window, options)
                if kept is None:
                    prefix, suffix = ctx.prefix, ctx.suffix
                    items = server.diagnostics(uri, prefix + suggestion + suffix, timeout)
                else:
                    items = kept
        except TimeoutError as exc:
            return Verdict(status="timeout", detail=str(exc))
        doc = prefix + suggestion + suffix
        lo, hi = len(prefix), len(prefix) + len(suggestion)
        starts = _offsets(doc)
        findings: list[Finding] = []
        edits: list[tuple[int, int, str]] = []
        for d in items:
            code = str(d.get("code") or "")
            line = d["range"]["start"]["line"] + 1
            if not code or code == "invalid-syntax" or not ctx.covers(line) or \
                    any(code.startswith(x) for x in options.ignore):
                continue
            fix = [(_pos(starts, e["range"]["start"], len(doc)),
                    _pos(starts, e["range"]["end"], len(doc)), e["newText"])
                   for e in (d.get("data") or {}).get("edits") or []]
            inside = bool(fix) and all(lo <= a <= b <= hi for a, b, _ in fix)
            clash = any(a < y and x < b or a == b == x for a, b, _ in fix for x, y, _ in edits)
            blocked = any(code.startswith(x) for x in options.block_rules)
            fixed = options.fix and inside and not clash and not blocked
            if fixed:
                edits.extend(fix)
            message = str(d.get("message", "")).split("\n\n", 1)[0]
            findings.append(self.finding(
                f"ruff:{code}", "low", "high",
                message + (" (fixed)" if fixed else ""), ctx.to_suggestion_line(line),
                (d.get("codeDescription") or {}).get("href", "https://docs.astral.sh/ruff/rules/"),
                "block" if blocked else "fix" if fixed else "annotate"))
        if options.format:
            edits = self._format(server, uri, ctx, doc, edits, lo, hi, options)
        if not edits:
            return Verdict(action=strictest("allow", *(f.action for f in findings
                                                       if f.action != "fix")),
                           findings=findings)
        new_doc = apply_edits(doc, edits)
        text = new_doc[lo: len(new_doc) - len(suffix)]
        text = _restore_noqa(text, ctx.suggestion)
        if not any(f.action == "fix" for f in findings):
            findings.append(self.finding("ruff:format", "info", "high", "reformatted",
                                         1, "https://docs.astral.sh/ruff/formatter/", "fix"))
        action = strictest("fix", *(f.action for f in findings))
        return Verdict(action=action, findings=findings, text=text)

    def _format(self, server: RuffServer, uri: str, ctx: VetContext, doc: str,
                edits: list[tuple[int, int, str]], lo: int, hi: int,
                options: RuffOptions) -> list[tuple[int, int, str]]:
        whole_lines = (not ctx.prefix or ctx.prefix.endswith("\n") or
                       not ctx.prefix.rsplit("\n", 1)[-1].strip()) and \
            ctx.suggestion.endswith("\n")
        if edits or not whole_lines:
            return edits
        start = ctx.first_line - 1
        try:
            result = server.range_format(uri, doc, start, ctx.last_line,
                                         options.timeout_ms / 1000)
        except Exception as exc:  # a partial document does not format: keep it as is
            logger.debug("ruff range format failed: %s", exc)
            return edits
        starts = _offsets(doc)
        out = [(_pos(starts, e["range"]["start"], len(doc)),
                _pos(starts, e["range"]["end"], len(doc)), e["newText"]) for e in result]
        line_lo = starts[start]
        if all(line_lo <= a <= b <= hi for a, b, _ in out) and \
                apply_edits(doc, out) != doc:
            return out
        return edits


_BACKTICK = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def _defined_at_top_level(name: str, doc: str) -> bool:
    """Whether a column-0 line of ``doc`` plainly defines ``name`` (def, class or an
    assignment target); a name defined any other way makes the caller lint it all."""
    n = re.escape(name)
    return re.search(rf"^(?:(?:async\s+)?def|class)\s+{n}\b|^\(?(?:[A-Za-z_]\w*\s*,\s*)*"
                     rf"{n}\s*(?:,\s*[A-Za-z_]\w*\s*)*\)?\s*(?::[^=\n]*)?=(?!=)",
                     doc, re.MULTILINE) is not None


def _in_function(prefix: str) -> bool:
    """Whether the top-level statement the cursor is in is a function (its body runs
    later, so a name defined further down the file is defined for it)."""
    end = len(prefix)
    while end > 0:
        start = prefix.rfind("\n", 0, end - 1) + 1
        line = prefix[start:end]
        if line[:1].isalpha() or line[:1] == "_":
            return re.match(r"(?:async\s+)?def\b", line) is not None
        end = start - 1 if start else 0
    return False


def _window_items(items: list[dict[str, Any]], ctx: VetContext, doc: str, window: str,
                  options: RuffOptions) -> list[dict[str, Any]] | None:
    """The windowed lint's diagnostics, or ``None`` when the whole document must be
    linted: a diagnostic on the suggestion's lines that depends on code outside the
    window, or a syntax error before the suggestion (the window's start was not a real
    top-level statement). An undefined name that a top-level line of the document
    defines is dropped instead (the whole document would not report it), and one that
    the document does not mention outside the window is kept as it is."""
    out = []
    for d in items:
        code = str(d.get("code") or "")
        line = d["range"]["start"]["line"] + 1
        if code in ("", "invalid-syntax"):
            if line < ctx.first_line:
                return None
        elif ctx.covers(line) and not any(code.startswith(x) for x in options.ignore):
            if code == "F821":
                m = _BACKTICK.search(str(d.get("message", "")))
                if m is None:
                    return None
                name, before = m.group(1), len(ctx.prefix)
                if doc.count(name) == window.count(name):
                    out.append(d)  # not mentioned outside the window: undefined there too
                    continue
                if not (_defined_at_top_level(name, doc[:before]) or (
                        _in_function(ctx.prefix) and _defined_at_top_level(name, doc[before:]))):
                    return None
                continue
            if code == "F401" and _in_function(ctx.prefix):
                pass  # an import inside a function: used or not within it, all in the window
            elif code.startswith(CONTEXT_RULES):
                return None
        out.append(d)
    return out


def _restore_noqa(text: str, original: str) -> str:
    """Put back the model's ``noqa`` spelling that was neutralized for ruff."""
    return re.sub(r"\bn0qa\b", "noqa", text) if "n0qa" not in original else text
