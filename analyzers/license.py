"""``license``: license texts, notices, SPDX identifiers and copyright statements.

scancode's license index is loaded once, in the background, when the pipeline starts
(about 1.3 GB and 5-15 seconds), in a separate worker process (``licenseworker.py``)
queried over a pipe (scancode's half is ``scancode.py``, which both import): loading no longer holds the server's GIL (vetting stays fast while
it loads) and the server's own memory stays small. Until it is ready the status is
``warming`` and the team's ``vetting.on_warming`` decides; a worker that dies is started
again (``warming`` meanwhile). In the hot path only exact matching runs (hash, SPDX-id
and Aho-Corasick matchers: under a millisecond); approximate matching is far too slow.

- ``CW-LIC-SPDX``: an ``SPDX-License-Identifier`` line.
- ``CW-LIC-TEXT``: license text, notice or reference (``GPL-3.0-or-later`` header...).
- ``CW-LIC-COPYRIGHT``: a copyright statement (annotated with its holder).

The action comes from the team's license policy (``vetting.license_policy``); the
finding's reference is the SPDX id.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from .config import bounded
from .contract import BaseAnalyzer, Finding, Policy, Verdict, VetContext
from .licenseworker import LicenseWorker, WorkerGone
from .scancode import detect_copyrights, match_query, warm_index

logger = logging.getLogger(__name__)

_COPYRIGHT = re.compile(r"(?i)copyright|\(c\)\s*(19|20)\d\d|©")
_CONTEXT_LINES = 8


@dataclass
class LicenseOptions:
    min_score: float = bounded(80.0, 0.0, 100.0)
    """Ignore matches scoring below this (0-100)."""
    min_matched_tokens: int = bounded(2, 1, 10000)
    copyright_action: Policy = "annotate"
    """Action for a third-party copyright statement: allow, annotate or block."""
    timeout_ms: float = bounded(1000.0, 1.0, 60000.0)
    """Longest wait for the license worker's answer before the status is ``timeout``."""


class LicenseAnalyzer(BaseAnalyzer):
    """scancode exact license matching and copyright detection on the suggestion."""

    name = "license"
    category = "license"
    order = 50
    Options = LicenseOptions
    background_warm_up = True

    def __init__(self, in_process: bool | None = None) -> None:
        self.in_process = os.name == "nt" if in_process is None else in_process
        """Load the index in this process (a thread) instead of a worker process (the
        worker's pipe is read with ``select``, which Windows does not offer for pipes)."""
        self._index: Any = None
        self._worker: LicenseWorker | None = None
        self._lock = threading.Lock()

    MISSING = "not installed: pip install codeward[license]"

    @staticmethod
    def available() -> bool:
        import importlib.util

        return importlib.util.find_spec("licensedcode") is not None

    def warm_up(self) -> None:
        if not self.available():
            logger.warning("license analyzer (scancode-toolkit) %s; licenses are not checked",
                           self.MISSING)
            return
        with self._lock:
            if self.in_process:
                if self._index is None:
                    self._index = warm_index()
            else:
                if self._worker is None:
                    self._worker = LicenseWorker()
                if self._worker.starts == 0:
                    self._worker.start()
        if self._worker is not None:
            self._worker.wait_ready()

    def is_ready(self) -> bool:
        if self.in_process:
            return self._index is not None
        return self._worker is not None and self._worker.ready

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()

    def _lookup(self, query: str, lines: list[str] | None,
                options: LicenseOptions) -> dict[str, Any] | Verdict:
        if self.in_process:
            if self._index is None:
                return Verdict(status="warming", detail="scancode license index is loading")
            return {"matches": match_query(self._index, query),
                    "copyrights": detect_copyrights(lines) if lines else []}
        worker = self._worker
        if worker is None or not worker.ready:
            if worker is not None and worker.failed:
                return Verdict(status="error", detail=worker.failed)
            return Verdict(status="warming", detail="scancode license index is loading")
        try:
            return worker.lookup(query, lines, options.timeout_ms / 1000)
        except TimeoutError as exc:
            return Verdict(status="timeout", detail=str(exc))
        except WorkerGone as exc:
            worker.restart()
            return Verdict(status="warming", detail=f"license worker restarting ({exc})")

    def analyze(self, ctx: VetContext, options: LicenseOptions) -> Verdict:
        if not self.available():
            # like a still-loading index: `vetting.on_warming` decides (default: annotate)
            return Verdict(status="warming", detail=self.MISSING)
        before = ctx.prefix.split("\n")[-_CONTEXT_LINES:]
        head = "\n".join(before[:-1])
        query = (head + "\n" if head else "") + before[-1] + ctx.suggestion
        offset = len(before) - 1  # query line of the suggestion's first line, minus 1
        want_copyrights = options.copyright_action != "allow" and \
            _COPYRIGHT.search(ctx.suggestion) is not None
        answer = self._lookup(query, ctx.suggestion_lines() if want_copyrights else None,
                              options)
        if isinstance(answer, Verdict):
            return answer
        findings: list[Finding] = []
        policy = ctx.config.license_policy
        qlines = query.split("\n")
        for m in answer["matches"]:
            if m["end_line"] <= offset or m["score"] < options.min_score or \
                    m["len"] < options.min_matched_tokens:
                continue
            spdx, cats = m["spdx"], m["categories"]
            action = policy.action_for(spdx, cats)
            matched = "\n".join(qlines[m["start_line"] - 1: m["end_line"]]).lower()
            rule = "CW-LIC-SPDX" if "spdx" in m["matcher"] or \
                "spdx-license-identifier" in matched else "CW-LIC-TEXT"
            line = max(1, m["start_line"] - offset)
            findings.append(self.finding(
                rule, "high" if action == "block" else "low", "high",
                f"{' AND '.join(spdx)} license {'identifier' if rule == 'CW-LIC-SPDX' else 'text'}"
                f" ({', '.join(sorted(set(cats)))}) matched by scancode rule "
                f"{m['identifier']}", line, " AND ".join(spdx), action,
                spdx=spdx, categories=cats))
        for line, statement in answer["copyrights"]:
            findings.append(self.finding(
                "CW-LIC-COPYRIGHT", "medium", "medium",
                f"copyright statement: {statement}; keep attribution or leave it out",
                line, "https://spdx.org/licenses/", options.copyright_action,
                copyright=statement))
        return Verdict.from_findings(findings)
