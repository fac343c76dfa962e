"""``bandit``: bandit's checks, run in process on the suggestion in its document.

No temp files: bandit's node visitor walks an in-memory AST (see ``source.py`` for how
partial code is made parseable). Only findings on the suggestion's lines count. Every
``# nosec`` is ignored (bandit is given no nosec lines) and one written by the model is a
finding (``CW-SEC-NOSEC``), as is a model-written ``# noqa`` (``CW-SEC-NOQA``). When no
repair makes the code parse, the tree-sitter pattern rules run instead; if they cannot
vouch for it either the status is ``unparseable``, never clean.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .contract import SEVERITIES, Action, BaseAnalyzer, Policy, Verdict, VetContext
from .rules import pattern_findings
from .source import python_source

logger = logging.getLogger(__name__)
# bandit's plugin loader logs an ERROR at every start for its optional SARIF formatter,
# which Codeward never uses.
logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)

_SUPPRESS = re.compile(r"#.*?\b(nosec|noqa)\b", re.IGNORECASE)
_LEVELS = ("low", "medium", "high")
_SUPPRESS_DOC = {
    "nosec": "https://bandit.readthedocs.io/en/latest/config.html#exclusions",
    "noqa": "https://docs.astral.sh/ruff/linter/#error-suppression",
}


@dataclass
class BanditOptions:
    skip_rules: list[str] = field(default_factory=lambda: ["B101"])
    """Bandit test ids never reported (B101: assert)."""
    block_rules: list[str] = field(default_factory=lambda: [
        "B102", "B301", "B302", "B303", "B304", "B305", "B306",
        "B307", "B308", "B312", "B321", "B323", "B324", "B501", "B502", "B503", "B504",
        "B506", "B601", "B602", "B604", "B605", "B608", "B609", "B610", "B611", "B701",
        "B702", "B703"])
    """Always block (whatever bandit's severity)."""
    annotate_rules: list[str] = field(default_factory=lambda: [
        "B105", "B106", "B107", "B108", "B110", "B112", "B113", "B311", "B403", "B404", "B603", "B607"])
    """Never more than annotate (B105-B107: the ``secrets`` analyzer blocks real
    passwords, with placeholder filtering bandit lacks)."""
    block_severity: str = "medium"
    """Other findings block at this bandit severity or above (and confidence >= medium)."""
    suppression_action: Policy = "annotate"
    """Action for a model-written ``# nosec`` / ``# noqa``."""

    def validate(self) -> list[str]:
        if self.block_severity not in _LEVELS:
            return ["bandit.block_severity: expected 'low', 'medium' or 'high'"]
        if self.suppression_action not in ("annotate", "block"):
            return ["bandit.suppression_action: expected 'annotate' or 'block'"]
        return []


class BanditAnalyzer(BaseAnalyzer):
    """Bandit security checks (CWE references from bandit) on the suggestion's lines."""

    name = "bandit"
    category = "security"
    order = 30
    Options = BanditOptions
    languages = ("python",)

    def __init__(self) -> None:
        self._testset: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self._tests()

    def _tests(self) -> Any:
        with self._lock:
            if self._testset is None:
                from bandit.core import config, test_set

                logging.getLogger("bandit").setLevel(logging.ERROR)
                self._testset = test_set.BanditTestSet(config.BanditConfig(), profile={})
            return self._testset

    def analyze(self, ctx: VetContext, options: BanditOptions) -> Verdict:
        findings = self._suppressions(ctx, options)
        src = python_source(ctx)
        if src is None:
            fallback, understood = pattern_findings(ctx, self.name)
            findings += fallback
            if not understood and not fallback:
                return Verdict(action="allow", status="unparseable", findings=findings,
                               detail="the suggestion does not parse, even repaired")
            return Verdict.from_findings(findings)
        for issue in self._run(src.text, src.tree):
            if issue.test_id in options.skip_rules:
                continue
            lines = issue.linerange or [issue.lineno]
            hit = [n for n in lines if ctx.covers(n)]
            if not hit:
                continue
            sev, conf = issue.severity.lower(), issue.confidence.lower()
            action: Action
            if issue.test_id in options.annotate_rules:
                action = "annotate"
            elif issue.test_id in options.block_rules:
                action = "block"
            elif SEVERITIES.index(sev) >= SEVERITIES.index(options.block_severity) and \
                    conf != "low":
                action = "block"
            else:
                action = "annotate"
            ref = issue.cwe.link() if issue.cwe and issue.cwe.id else \
                f"https://bandit.readthedocs.io/en/latest/search.html?q={issue.test_id}"
            findings.append(self.finding(issue.test_id, sev, conf, issue.text,
                                         ctx.to_suggestion_line(hit[0]), ref, action,
                                         parsed=src.mode))
        return Verdict.from_findings(findings)

    def _run(self, text: str, tree: Any) -> list[Any]:
        from bandit.core import meta_ast, metrics, node_visitor

        data = text.encode("utf-8")
        m = metrics.Metrics()
        m.begin("/codeward/suggestion.py")
        visitor = node_visitor.BanditNodeVisitor(
            "/codeward/suggestion.py", io.BytesIO(data), meta_ast.BanditMetaAst(),
            self._tests(), False, {}, m)
        visitor.generic_visit(tree)
        return list(visitor.tester.results)

    def _suppressions(self, ctx: VetContext, options: BanditOptions) -> list[Any]:
        out = []
        for i, line in enumerate(ctx.suggestion.split("\n"), 1):
            for m in _SUPPRESS.finditer(line):
                kind = m.group(1).lower()
                out.append(self.finding(
                    f"CW-SEC-{kind.upper()}", "medium" if kind == "nosec" else "low", "high",
                    f"the suggestion adds a '# {kind}' comment that would silence a checker; "
                    "it was ignored", i, _SUPPRESS_DOC[kind],
                    options.suppression_action))
        return out
