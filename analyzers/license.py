"""``license``: license texts, notices, SPDX identifiers and copyright statements.

scancode's license index is loaded once, in the background, when the pipeline starts
(about 1 GB and several seconds); until then the status is ``warming`` and the team's
``vetting.on_warming`` decides. In the hot path only exact matching runs (hash, SPDX-id
and Aho-Corasick matchers: under a millisecond); approximate matching is far too slow.

- ``CW-LIC-SPDX``: an ``SPDX-License-Identifier`` line.
- ``CW-LIC-TEXT``: license text, notice or reference (``GPL-3.0-or-later`` header...).
- ``CW-LIC-COPYRIGHT``: a copyright statement (annotated with its holder).

The action comes from the team's license policy (``vetting.license_policy``); the
finding's reference is the SPDX id.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from .contract import BaseAnalyzer, Finding, Verdict, VetContext

logger = logging.getLogger(__name__)

_COPYRIGHT = re.compile(r"(?i)copyright|\(c\)\s*(19|20)\d\d|©")
_CONTEXT_LINES = 8


@dataclass
class LicenseOptions:
    min_score: float = 80.0
    """Ignore matches scoring below this (0-100)."""
    min_matched_tokens: int = 2
    copyright_action: str = "annotate"
    """Action for a third-party copyright statement: allow, annotate or block."""

    def validate(self) -> list[str]:
        if self.copyright_action not in ("allow", "annotate", "block"):
            return ["license.copyright_action: expected 'allow', 'annotate' or 'block'"]
        return []


def load_index() -> Any:
    """scancode's license index (cached by scancode per process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from licensedcode import cache

        return cache.get_index()


def license_info(expression: str) -> tuple[list[str], list[str]]:
    """SPDX ids and scancode categories of the licenses in a scancode expression."""
    from licensedcode import cache

    db = cache.get_licenses_db()
    keys = cache.get_licensing().license_keys(expression)
    spdx = [getattr(db.get(k), "spdx_license_key", None) or f"LicenseRef-scancode-{k}"
            for k in keys]
    cats = [getattr(db.get(k), "category", None) or "Unstated License" for k in keys]
    return spdx, cats


class LicenseAnalyzer(BaseAnalyzer):
    """scancode exact license matching and copyright detection on the suggestion."""

    name = "license"
    category = "license"
    order = 50
    Options = LicenseOptions
    background_warm_up = True

    def __init__(self) -> None:
        self._index: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._index is None:
                index = load_index()
                from cluecode import copyrights

                # pay every first-use cost here, not on the first suggestion
                for m in index.match(query_string="# SPDX-License-Identifier: MIT\n",
                                     approximate=False):
                    license_info(m.rule.license_expression)
                list(copyrights.detect_copyrights_from_lines([(1, "Copyright 2020 A B")]))
                self._index = index

    def is_ready(self) -> bool:
        return self._index is not None

    def analyze(self, ctx: VetContext, options: LicenseOptions) -> Verdict:
        if self._index is None:
            return Verdict(status="warming", detail="scancode license index is loading")
        before = ctx.prefix.split("\n")[-_CONTEXT_LINES:]
        head = "\n".join(before[:-1])
        query = (head + "\n" if head else "") + before[-1] + ctx.suggestion
        offset = len(before) - 1  # query line of the suggestion's first line, minus 1
        findings: list[Finding] = []
        policy = ctx.config.license_policy
        qlines = query.split("\n")
        for m in self._index.match(query_string=query, approximate=False):
            if m.end_line <= offset or m.score() < options.min_score or \
                    m.len() < options.min_matched_tokens:
                continue
            spdx, cats = license_info(m.rule.license_expression)
            action = policy.action_for(spdx, cats)
            matched = "\n".join(qlines[m.start_line - 1: m.end_line]).lower()
            rule = "CW-LIC-SPDX" if "spdx" in m.matcher or \
                "spdx-license-identifier" in matched else "CW-LIC-TEXT"
            line = max(1, m.start_line - offset)
            findings.append(self.finding(
                rule, "high" if action == "block" else "low", "high",
                f"{' AND '.join(spdx)} license {'identifier' if rule == 'CW-LIC-SPDX' else 'text'}"
                f" ({', '.join(sorted(set(cats)))}) matched by scancode rule "
                f"{m.rule.identifier}", line, " AND ".join(spdx), action,
                spdx=spdx, categories=cats))
        if options.copyright_action != "allow" and _COPYRIGHT.search(ctx.suggestion):
            findings.extend(self._copyrights(ctx, options))
        return Verdict.from_findings(findings)

    def _copyrights(self, ctx: VetContext, options: LicenseOptions) -> list[Finding]:
        from cluecode import copyrights

        lines = list(enumerate(ctx.suggestion_lines(), 1))
        out = []
        for d in copyrights.detect_copyrights_from_lines(
                lines, include_copyrights=True, include_holders=False, include_authors=False):
            out.append(self.finding(
                "CW-LIC-COPYRIGHT", "medium", "medium",
                f"copyright statement: {d.copyright}; keep attribution or leave it out",
                d.start_line, "https://spdx.org/licenses/", options.copyright_action,
                copyright=d.copyright))
        return out
