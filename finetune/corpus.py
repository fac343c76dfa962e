"""The local training corpus for ``codeward model train-base``: Python source that may be
trained on, with where it came from and under which license.

Default sources: the Python standard library (PSF-2.0) and every installed distribution
whose license, read from its package metadata (``License-Expression``, ``License`` or the
``License ::`` classifiers), is permissive. Copyleft (GPL, LGPL, AGPL, MPL, EPL, ...) and
unknown licenses are excluded, and the exclusions are recorded with their reason.

Held-out files: a file is held out when the hash of its ``source/relative/path`` key falls
below ``heldout_share``; the split depends on nothing else (not on the seed, the file list or
the machine), so the evaluation never sees a file the model was trained on.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
import sysconfig
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PERMISSIVE = {
    "mit", "mit-0", "bsd", "bsd-2-clause", "bsd-3-clause", "0bsd", "apache", "apache-2.0",
    "apache-2", "apache 2.0", "isc", "psf", "psf-2.0", "python-2.0", "zlib", "unlicense",
    "cnri-python", "public-domain", "publicdomain", "hpnd", "bsl-1.0", "cc0-1.0",
}
COPYLEFT = re.compile(r"\b(a?gpl|lgpl|mpl|mozilla|epl|eclipse|cddl|eupl|osl|artistic|"
                      r"gnu|copyleft|cc-by-sa|sspl)", re.I)
CLASSIFIERS = {
    "MIT License": "MIT", "BSD License": "BSD", "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC", "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense", "zlib/libpng License": "Zlib",
    "MIT No Attribution License (MIT-0)": "MIT-0",
}
SKIP_PARTS = {"__pycache__", "site-packages", "test", "tests", "idlelib", "turtledemo"}
MAX_FILE_BYTES = 300_000
"""Larger files are mostly generated tables: skipped."""


@dataclass
class Source:
    name: str
    version: str
    license: str
    root: str
    files: list[str] = field(default_factory=list)
    """Paths relative to ``root``."""
    bytes: int = 0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["files"] = len(self.files)
        return d


@dataclass
class Excluded:
    name: str
    license: str
    reason: str


@dataclass
class Corpus:
    sources: list[Source]
    excluded: list[Excluded]

    def items(self) -> list[tuple[str, Path]]:
        """(key, path) of every file; key = ``source/relative/path``."""
        return [(f"{s.name}/{rel}", Path(s.root) / rel) for s in self.sources for rel in s.files]

    def split(self, heldout_share: float) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
        train: list[tuple[str, Path]] = []
        held: list[tuple[str, Path]] = []
        for key, path in self.items():
            (held if is_heldout(key, heldout_share) else train).append((key, path))
        return train, held

    def manifest(self) -> dict:
        return {"sources": [s.as_dict() for s in self.sources],
                "excluded": [asdict(e) for e in self.excluded]}


def is_heldout(key: str, share: float) -> bool:
    """Deterministic split by path hash: the same key is always on the same side."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _alternatives(expr: str) -> list[list[str]]:
    """An SPDX-like expression as OR-alternatives of AND-terms (lower case)."""
    expr = expr.replace("(", " ").replace(")", " ")
    alts = re.split(r"\s+or\s+|\s*/\s*", expr, flags=re.I)
    return [[t.strip().lower() for t in re.split(r"\s+and\s+|,", a, flags=re.I) if t.strip()]
            for a in alts if a.strip()]


def _term_permissive(term: str) -> bool:
    term = term.removesuffix(" license").removeprefix("the ").strip()
    term = re.sub(r"\s+with\s+llvm-exception$", "", term)
    if COPYLEFT.search(term):
        return False
    return term in PERMISSIVE or term.split()[0] in PERMISSIVE if term else False


def classify_license(expression: str, classifiers: Iterable[str] = ()) -> tuple[str, str]:
    """("permissive" | "copyleft" | "unknown", normalized license text)."""
    expr = (expression or "").strip()
    names = [CLASSIFIERS.get(c.rsplit(" :: ", 1)[-1], "") for c in classifiers
             if c.startswith("License ::")]
    if any(COPYLEFT.search(c) for c in classifiers if c.startswith("License ::")) and not expr:
        return "copyleft", " AND ".join(c.rsplit(" :: ", 1)[-1] for c in classifiers
                                       if c.startswith("License ::"))
    if expr and len(expr) < 120 and "\n" not in expr and expr.upper() != "UNKNOWN":
        alts = _alternatives(expr)
        if any(alts) and any(all(_term_permissive(t) for t in alt) for alt in alts if alt):
            return "permissive", expr
        if COPYLEFT.search(expr):
            return "copyleft", expr
    if names and all(names):
        return "permissive", " AND ".join(dict.fromkeys(names))
    return "unknown", expr[:60] or ", ".join(c.rsplit(" :: ", 1)[-1] for c in classifiers
                                              if c.startswith("License ::"))


def _python_files(root: Path, rels: Iterable[str]) -> tuple[list[str], int]:
    kept, total = [], 0
    for rel in sorted(set(rels)):
        if not rel.endswith(".py") or SKIP_PARTS & set(Path(rel).parts[:-1]):
            continue
        try:
            size = (root / rel).stat().st_size
        except OSError:
            continue
        if 0 < size <= MAX_FILE_BYTES:
            kept.append(rel)
            total += size
    return kept, total


def stdlib_source() -> Source:
    import platform

    root = Path(sysconfig.get_paths()["stdlib"])
    rels = (str(p.relative_to(root)) for p in root.rglob("*.py"))
    files, size = _python_files(root, rels)
    return Source(name="python-stdlib", version=platform.python_version(), license="PSF-2.0",
                  root=str(root), files=files, bytes=size)


def installed_sources(skip: Iterable[str] = ("codeward",)) -> tuple[list[Source], list[Excluded]]:
    """Installed distributions, split by their metadata license."""
    sources, excluded, seen = [], [], set(skip)
    for dist in sorted(md.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = dist.metadata["Name"] or ""
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        meta: Any = dist.metadata  # an email.message.Message at run time
        expr = meta.get("License-Expression") or meta.get("License") or ""
        kind, lic = classify_license(expr, meta.get_all("Classifier") or [])
        if kind != "permissive":
            excluded.append(Excluded(name=name, license=lic or "none declared",
                                     reason=f"{kind} license"))
            continue
        root = Path(str(dist.locate_file("")))
        files, size = _python_files(root, (str(f) for f in (dist.files or [])))
        if files:
            sources.append(Source(name=name, version=meta.get("Version") or "", license=lic,
                                  root=str(root), files=files, bytes=size))
    return sources, excluded


def directory_source(path: Path, license: str = "user-supplied") -> Source:
    root = Path(path).resolve()
    rels = (str(p.relative_to(root)) for p in root.rglob("*.py"))
    files, size = _python_files(root, rels)
    return Source(name=root.name, version="", license=license, root=str(root), files=files,
                  bytes=size)


def default_corpus(include_packages: bool = True) -> Corpus:
    sources = [stdlib_source()]
    excluded: list[Excluded] = []
    if include_packages:
        more, excluded = installed_sources()
        sources += more
    return Corpus(sources=sources, excluded=excluded)


def corpus_from(dirs: list[Path] | None, include_packages: bool = True) -> Corpus:
    """``dirs`` given: those directories (their license is the user's call); else default."""
    if dirs:
        return Corpus(sources=[directory_source(d) for d in dirs], excluded=[])
    return default_corpus(include_packages)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
