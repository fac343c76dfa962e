"""``copied-code``: is the suggestion a copy of code in the reference corpus?

Looks the suggestion up in a winnowing index (``winnow.py``; built with ``codeward
license-index build DIR...``) in about a millisecond and reports the source file and its
license; the team's license policy decides the action.

- ``CW-LIC-COPIED``: the suggestion matches a file of the corpus (as written, or with
  identifiers renamed); the reference is the file's SPDX license id.

The index is, in order: ``[tool.codeward.analyzers.copied-code] index = "PATH"``, the user
data dir's ``copied-code.npz`` (where ``license-index build`` writes by default), the small
index shipped with Codeward. With none of them the status is ``skipped``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from .config import bounded
from .contract import BaseAnalyzer, Verdict, VetContext
from .winnow import CopiedIndex

logger = logging.getLogger(__name__)

SHIPPED = Path(__file__).parent / "data" / "copied-code.npz"


def user_index_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("codeward")) / "copied-code.npz"


def default_index_path() -> Path | None:
    for path in (user_index_path(), SHIPPED):
        if path.is_file():
            return path
    return None


@dataclass
class CopiedOptions:
    index: str = ""
    """Index file; empty = the user data dir's, else the shipped one."""
    min_fingerprints: int = bounded(3, 1, 1000)
    """Matched fingerprints needed (the renamed pass needs twice as many)."""
    min_share: float = bounded(0.5, 0.0, 1.0)
    """Share of the suggestion's fingerprints that must come from one file."""

    def validate(self) -> list[str]:
        if not 0 < self.min_share <= 1:
            return ["copied-code.min_share: must be in (0, 1]"]
        return []


class CopiedCodeAnalyzer(BaseAnalyzer):
    """Copied licensed code, found by winnowing fingerprints."""

    name = "copied-code"
    category = "license"
    order = 60
    Options = CopiedOptions

    def __init__(self) -> None:
        self._indexes: dict[str, CopiedIndex | None] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self._index("")

    def _index(self, configured: str) -> CopiedIndex | None:
        if configured in self._indexes:
            return self._indexes[configured]
        with self._lock:
            path = Path(configured).expanduser() if configured else default_index_path()
            index = None
            if path is not None and path.is_file():
                index = CopiedIndex.load(path)
                logger.info("copied-code index %s: %d files", path, len(index.files))
            elif configured:
                logger.warning("copied-code index %s not found; copied-code check skipped",
                               configured)
            self._indexes[configured] = index
            return index

    def analyze(self, ctx: VetContext, options: CopiedOptions) -> Verdict:
        index = self._index(options.index)
        if index is None:
            return Verdict(status="skipped", detail="no copied-code index")
        policy = ctx.config.license_policy
        findings = []
        for m in index.lookup(ctx.suggestion, options.min_fingerprints, options.min_share):
            action = policy.action_for(m.spdx, m.categories)
            findings.append(self.finding(
                "CW-LIC-COPIED", "high" if action == "block" else "medium", "medium",
                f"looks copied from {m.path} ({' AND '.join(m.spdx)}; {m.matched}/{m.total} "
                f"fingerprints, {'identifiers renamed' if m.kind == 'renamed' else 'as written'})",
                m.line, " AND ".join(m.spdx), action, source=m.path, spdx=m.spdx,
                categories=m.categories))
        return Verdict.from_findings(findings)
