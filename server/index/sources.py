"""What goes into the index: workspace files, the standard library, permissively licensed
installed packages; each labelled with its license. Secrets never go in.

- Workspace: every ``.gitignore`` on the way down (``pathspec``'s git-wildmatch rules),
  ``context.exclude`` globs, ``index.max_file_bytes``, ``index.max_files``; binary and
  non-UTF-8 files are skipped. A file's license is its ``SPDX-License-Identifier`` line
  if it has one, else the project's own (``own=True``: the license policy does not apply
  to copying within your project, only to vendored code that declares another license).
- Lines with a secret are blanked by the index itself before anything is lexed
  (``secretfilter``), whatever the source.
"""

from __future__ import annotations

import logging
import os
import re
import sysconfig
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pathspec

from ..context import is_excluded
from .model import SourceDoc

logger = logging.getLogger(__name__)

SOURCE_SUFFIXES = (".py", ".pyi")
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".tox",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", ".eggs"}
_SPDX = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-() ]+?)\s*(?:\*/|-->|$)", re.M)


def spdx_of(text: str) -> str:
    """The ``SPDX-License-Identifier`` of a file's header, or ""."""
    m = _SPDX.search(text[:4000])
    return m.group(1).strip() if m else ""


@dataclass
class Walk:
    docs: list[SourceDoc] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _ignore_spec(folder: Path) -> pathspec.PathSpec | None:
    gi = folder / ".gitignore"
    if not gi.is_file():
        return None
    try:
        return pathspec.PathSpec.from_lines("gitwildmatch", gi.read_text("utf-8").splitlines())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logger.warning("cannot read %s: %s", gi, exc)
        return None


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, pathspec.PathSpec]]) -> bool:
    for base, spec in specs:
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(rel):
            return True
    return False


def workspace_files(root: Path, exclude: list[str], max_bytes: int,
                    max_files: int, skipped: Counter[str]) -> Iterator[Path]:
    """Indexable source files under ``root``, sorted, .gitignore and excludes respected."""
    count = 0
    stack: list[tuple[Path, list[tuple[Path, pathspec.PathSpec]]]] = [(root, [])]
    while stack:
        folder, specs = stack.pop()
        spec = _ignore_spec(folder)
        if spec is not None:
            specs = [*specs, (folder, spec)]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            skipped["error"] += 1
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS or _ignored(path, True, specs):
                    skipped["ignored-dir"] += 1
                else:
                    stack.append((path, specs))
                continue
            if not entry.name.endswith(SOURCE_SUFFIXES) or not entry.is_file():
                continue
            if _ignored(path, False, specs):
                skipped["ignored"] += 1
            elif is_excluded(str(path), exclude):
                skipped["excluded"] += 1
            elif entry.stat().st_size > max_bytes:
                skipped["too-large"] += 1
            elif count >= max_files:
                skipped["over-cap"] += 1
            else:
                count += 1
                yield path


def skip_reason(root: Path, path: Path, exclude: list[str], max_bytes: int) -> str:
    """Why the workspace walk would not index ``path`` ("" when it would): outside
    ``root``, not a source file, in a skipped or ignored folder, ignored, excluded, too
    large. For one file that changed on disk (the walk's rules, without walking)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return "outside"
    if not path.name.endswith(SOURCE_SUFFIXES):
        return "not-source"
    specs: list[tuple[Path, pathspec.PathSpec]] = []
    folder = root
    for part in rel.parts[:-1]:
        spec = _ignore_spec(folder)
        if spec is not None:
            specs.append((folder, spec))
        folder = folder / part
        if part in SKIP_DIRS or _ignored(folder, True, specs):
            return "ignored-dir"
    spec = _ignore_spec(folder)
    if spec is not None:
        specs.append((folder, spec))
    if _ignored(path, False, specs):
        return "ignored"
    if is_excluded(str(path), exclude):
        return "excluded"
    try:
        if path.stat().st_size > max_bytes:
            return "too-large"
    except OSError:
        return "missing"
    return ""


def read_source(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def walk_workspace(root: Path, exclude: list[str], max_bytes: int, max_files: int,
                   project_license: str = "") -> Walk:
    out = Walk()
    for path in workspace_files(root, exclude, max_bytes, max_files, out.skipped):
        text = read_source(path)
        if text is None:
            out.skipped["binary"] += 1
            continue
        spdx = spdx_of(text)
        own = not spdx or spdx == project_license
        out.docs.append(SourceDoc(str(path), text, "workspace", spdx or project_license, own))
    return out


def project_license(root: Path) -> str:
    """The ``license`` of the project's pyproject.toml (an SPDX expression), or ""."""
    import tomllib

    try:
        data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    lic = data.get("project", {}).get("license", "")
    return lic if isinstance(lic, str) else ""


def stdlib_docs(max_bytes: int, max_files: int) -> Walk:
    root = Path(sysconfig.get_paths()["stdlib"])
    return _library(root, "stdlib", "PSF-2.0", max_bytes, max_files,
                    skip=("site-packages", "test", "tests", "idlelib", "lib2to3"))


_CLASSIFIER = {"MIT License": "MIT", "BSD License": "BSD-3-Clause",
               "Apache Software License": "Apache-2.0", "ISC License (ISCL)": "ISC",
               "Python Software Foundation License": "PSF-2.0",
               "The Unlicense (Unlicense)": "Unlicense", "zlib/libpng License": "Zlib"}


def package_license(dist: metadata.Distribution) -> str:
    """SPDX id from a distribution's metadata (License-Expression, else its classifier,
    else a short License field); "" when unknown."""
    meta: Any = dist.metadata
    expr = meta.get("License-Expression") or ""
    if expr:
        return expr.strip()
    for c in meta.get_all("Classifier") or []:
        if c.startswith("License :: OSI Approved :: "):
            name = c.rsplit(" :: ", 1)[-1]
            if name in _CLASSIFIER:
                return _CLASSIFIER[name]
    short = (meta.get("License") or "").strip()
    return short if short and len(short) < 40 and "\n" not in short else ""


def package_docs(allowed: list[str], max_bytes: int, max_files: int) -> Walk:
    """Installed distributions whose license is in ``allowed`` (SPDX ids)."""
    out = Walk()
    ok = {a.lower() for a in allowed}
    for dist in metadata.distributions():
        lic = package_license(dist)
        name = dist.name
        if lic.lower() not in ok:
            out.skipped["license"] += 1
            logger.debug("index: package %s skipped (license %r)", name, lic)
            continue
        for f in dist.files or []:
            if len(out.docs) >= max_files:
                out.skipped["over-cap"] += 1
                return out
            if not str(f).endswith(".py"):
                continue
            path = Path(str(dist.locate_file(f)))
            _add_library_file(out, path, "package", lic, max_bytes)
    return out


def _library(root: Path, source: str, lic: str, max_bytes: int, max_files: int,
             skip: tuple[str, ...]) -> Walk:
    out = Walk()
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip and d not in SKIP_DIRS)
        for name in sorted(names):
            if len(out.docs) >= max_files:
                out.skipped["over-cap"] += 1
                return out
            if name.endswith(".py"):
                _add_library_file(out, Path(folder) / name, source, lic, max_bytes)
    return out


def _add_library_file(out: Walk, path: Path, source: str, lic: str, max_bytes: int) -> None:
    try:
        if path.stat().st_size > max_bytes:
            out.skipped["too-large"] += 1
            return
    except OSError:
        return
    text = read_source(path)
    if text is None:
        out.skipped["binary"] += 1
        return
    out.docs.append(SourceDoc(str(path), text, source, spdx_of(text) or lic, False))
