"""Chosen texts that teach the model nothing the project does not already give.

Issue 11 measured it: fine-tuning on a package whose every file repeats a license header
gained exact match only by memorising the header. A chosen text (an accepted suggestion,
what was written instead, an edited version) is *boilerplate* when

* it is a license header: comment, license-phrase or prose lines, with a license phrase
  ("Licensed under", "Copyright (c) 2024", "SPDX-License-Identifier", ...) or a comment
  naming a copyright or license;
* it is an exact duplicate block in the project: with ``--project DIR``, it occurs at least
  twice in the project's files (2+ lines or 40+ characters); from the logs alone, it already
  stands verbatim in its own prompt's prefix, or the same block was chosen in 3+ files of
  the repository;
* the project index completes it confidently: an index candidate (``source = "index"``)
  whose gate confidence was at least ``index_confidence``.

``dataset.build`` drops such rows or down-weights them (``boilerplate_weight``) and reports
the count for each reason.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

LICENSE_WORDS = re.compile(
    r"(?i)\b(copyright|licen[sc]e[ds]?|spdx-license-identifier|all rights reserved|"
    r"warrant(y|ies)|permission is hereby granted|redistributions?)\b|\(c\)|©")
STRONG = re.compile(
    r"(?i)copyright\s*(\(c\)|©|\d{4})|licensed under|spdx-license-identifier|"
    r"permission is hereby granted|all rights reserved|without warranties|"
    r"you may not use this file|gnu (lesser |affero )?general public license|"
    r"redistribution and use")
"""Phrases that only license text uses (a weak word such as "license" may be code)."""
COMMENT = re.compile(r"^\s*(#|//|/\*|\*|--|;|\"\"\"|''')")
CODE = re.compile(r"[=(){}\[\]]|^\s*(def|class|import|from|return|if|for|while)\b")
MIN_BLOCK_CHARS = 40
REPEATED_IN_FILES = 3
PROJECT_SUFFIXES = (".py", ".pyi", ".js", ".ts", ".go", ".rs", ".java", ".c", ".h", ".cpp",
                    ".rb", ".sh", ".toml", ".cfg", ".txt", ".md")


def _norm(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text.strip())


def is_license_header(text: str) -> bool:
    """License text: a license phrase, or a comment naming a copyright or license; every
    line a comment, a license phrase or prose (no code)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not (STRONG.search(text) or any(
            COMMENT.match(line) and LICENSE_WORDS.search(line) for line in lines)):
        return False
    return all(COMMENT.match(line) or STRONG.search(line) or not CODE.search(line)
               for line in lines)


def is_block(text: str) -> bool:
    """Long enough that an exact repeat is a copied block, not a common idiom."""
    stripped = text.strip()
    return "\n" in stripped or len(stripped) >= MIN_BLOCK_CHARS


def project_texts(project: Path | None, max_files: int = 5000,
                  max_bytes: int = 1_000_000) -> list[str]:
    """The project's text files (normalized), for the duplicate-block check."""
    if project is None:
        return []
    out: list[str] = []
    for path in sorted(Path(project).rglob("*")):
        if len(out) >= max_files:
            break
        if path.suffix not in PROJECT_SUFFIXES or not path.is_file() \
                or any(part.startswith(".") for part in path.relative_to(project).parts):
            continue
        try:
            if path.stat().st_size <= max_bytes:
                out.append(_norm(path.read_text("utf-8", errors="replace")))
        except OSError:
            continue
    return out


class Boilerplate:
    """Says why a chosen text is boilerplate ("" when it is not)."""

    def __init__(self, project: Path | None = None, index_confidence: float = 0.5) -> None:
        self.files = project_texts(project)
        self.index_confidence = index_confidence
        self._seen_in: dict[tuple[str, str], set[str]] = defaultdict(set)

    def observe(self, chosen: Iterable[tuple[str, str, str]]) -> None:
        """``(repository, file, text)`` of every chosen text, for the repeated-block check."""
        for repo, uri, text in chosen:
            if is_block(text):
                self._seen_in[(repo, _norm(text))].add(uri)

    def reason(self, text: str, prefix: str, repo: str, source: str,
               confidence: float | None) -> str:
        if is_license_header(text):
            return "license header"
        if source == "index" and confidence is not None and \
                confidence >= self.index_confidence:
            return "index completes it confidently"
        if not is_block(text):
            return ""
        norm = _norm(text)
        if norm in _norm(prefix) or sum(f.count(norm) for f in self.files) >= 2 \
                or len(self._seen_in.get((repo, norm), ())) >= REPEATED_IN_FILES:
            return "duplicate block in the project"
        return ""
