"""The real repositories ``codeward eval --repo`` measures on, and fetching them.

Each is a pinned sdist of a permissively licensed Python package that is neither in the
default model's training corpus (``server/default_model/MODEL.md``) nor installed in the
development environment, so neither the model nor the standard-library index has seen it.
The held-out packages are only ever measured; the tuning packages are the ones the confidence
thresholds are chosen on and the shipped gate prior (``server/index/prior_policy.json``) is
trained on. Sdists are downloaded with pip (``--no-binary :all:``, no
dependencies) into the user cache directory the first time they are needed and unpacked
there; nothing of them is committed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalPackage:
    name: str
    version: str
    license: str
    role: str
    """``heldout`` (measured, never tuned on) or ``tuning`` (thresholds are chosen and the
    gate prior is trained on it)."""
    style: str
    why: str


PACKAGES: tuple[EvalPackage, ...] = (
    EvalPackage("boltons", "26.2.0", "BSD-3-Clause", "heldout", "utility modules",
                "many independent utility modules; a 30-line BSD header at the top of every "
                "file (what the license-header column is for)"),
    EvalPackage("funcy", "2.1", "BSD-3-Clause", "heldout", "functional",
                "small composable functions and decorators, terse one-liners; little class "
                "code"),
    EvalPackage("marshmallow", "4.4.0", "MIT", "heldout", "declarative classes",
                "typed, class-based schema and field declarations with long signatures"),
    EvalPackage("sqlparse", "0.6.1", "BSD-3-Clause", "heldout", "parser / lexer",
                "token tables, grammar rules and tree walking; a 6-line header per file"),
    EvalPackage("werkzeug", "3.1.9", "BSD-3-Clause", "tuning", "web library",
                "a larger mixed code base (HTTP, routing, data structures) to choose the "
                "confidence thresholds on, unlike any held-out package"),
    EvalPackage("lark", "1.3.1", "MIT", "tuning", "parser / grammar",
                "a parsing toolkit (grammar loading, LALR and Earley parsers, tree "
                "transformers): the learned gate's prior is trained on it"),
    EvalPackage("wtforms", "3.3.2", "BSD-3-Clause", "tuning", "declarative classes",
                "form and field classes declared in the same shapes over and over, "
                "validators; prior training data"),
    EvalPackage("toolz", "1.2.0", "BSD-3-Clause", "tuning", "functional",
                "small functional utilities, each in a curried and a plain module; prior "
                "training data"),
    EvalPackage("pydash", "8.1.0", "MIT", "tuning", "utility functions",
                "a large library of utility functions with long docstrings and typed "
                "overloads; prior training data"),
)


def package(name: str) -> EvalPackage:
    for pkg in PACKAGES:
        if pkg.name == name.lower():
            return pkg
    known = ", ".join(p.name for p in PACKAGES)
    raise ValueError(f"unknown evaluation package {name!r} (known: {known})")


def by_role(role: str) -> list[EvalPackage]:
    return [p for p in PACKAGES if p.role == role]


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("codeward")) / "eval-repos"


def _download(pkg: EvalPackage, into: Path) -> Path:
    spec = f"{pkg.name}=={pkg.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--no-binary", ":all:", spec, "-d", str(into)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    archives = [p for p in into.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
    if proc.returncode != 0 or not archives:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise OSError(f"could not download the sdist of {spec}: {detail[0]}")
    return archives[0]


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` into ``into`` and return its single top-level folder."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)  # noqa: S202 - names checked by zipfile (no absolute paths)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise OSError(f"{archive.name}: expected one top-level folder, found {len(tops)}")
    return tops[0]


def fetch(pkg: EvalPackage, cache: Path | None = None,
          say: Callable[[str], None] = logger.info) -> Path:
    """The unpacked sdist of ``pkg`` (downloaded and unpacked on first use)."""
    cache = cache or cache_dir()
    root = cache / f"{pkg.name}-{pkg.version}"
    if root.is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    say(f"{pkg.name} {pkg.version} is not in {cache}: downloading its sdist with pip")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        archive = _download(pkg, Path(tmp) / "sdist")
        top = _unpack(archive, Path(tmp) / "src")
        shutil.move(str(top), str(root))
    return root
