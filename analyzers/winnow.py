"""Copied-code index: winnowing fingerprints over normalized tokens.

Two passes per file: ``exact`` (tokens as written, comments and layout dropped) and
``renamed`` (identifiers -> ``V``, strings -> ``S``, numbers -> ``N``, keywords and
operators kept), so a copy with renamed variables is still found. Each pass hashes every
``K``-token window (blake2b, stable across processes) and keeps the minimum of every
``W`` consecutive hashes (Schleimer et al., SIGMOD 2003).

The index file (``.npz``) holds sorted ``(hash, file id)`` arrays per pass and a JSON
table of files with their license (SPDX ids, scancode categories, where it came from).
"""

from __future__ import annotations

import hashlib
import json
import keyword
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

K = 10
W = 6
FORMAT = 1
SOURCE_SUFFIXES = (".py", ".pyi")
_TOKEN = re.compile(
    r"""(?P<c>\#[^\n]*)|(?P<s>[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'[^'\n]*'|"[^"\n]*"))"""
    r"""|(?P<n>\d[\w.]*)|(?P<i>[^\W\d]\w*)|(?P<o>[^\s\w])""")
_KEEP = set(keyword.kwlist) | {"self", "cls", "True", "False", "None", "print", "len",
                                "range", "open", "super", "isinstance"}


def tokens(text: str) -> tuple[list[str], list[str], list[int]]:
    """(exact tokens, renamed tokens, line of each token)."""
    exact, renamed, lines = [], [], []
    line, pos = 1, 0
    for m in _TOKEN.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        kind = m.lastgroup
        if kind == "c":
            continue
        tok = m.group(0)
        exact.append(tok)
        if kind == "i":
            renamed.append(tok if tok in _KEEP else "V")
        else:
            renamed.append({"s": "S", "n": "N"}.get(kind or "", tok))
        lines.append(line)
    return exact, renamed, lines


def _hashes(toks: list[str]) -> np.ndarray:
    out = np.empty(max(0, len(toks) - K + 1), dtype=np.uint64)
    for i in range(len(out)):
        digest = hashlib.blake2b("\x1f".join(toks[i:i + K]).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


def winnow(toks: list[str]) -> dict[int, int]:
    """Fingerprint hash -> index of the first token of its window."""
    h = _hashes(toks)
    if len(h) == 0:
        return {}
    if len(h) < W:
        i = int(np.argmin(h))
        return {int(h[i]): i}
    windows = np.lib.stride_tricks.sliding_window_view(h, W)
    picks = W - 1 - np.argmin(windows[:, ::-1], axis=1) + np.arange(len(windows))
    return {int(h[i]): int(i) for i in np.unique(picks)}


@dataclass
class Match:
    path: str
    spdx: list[str]
    categories: list[str]
    license_source: str
    kind: str
    matched: int
    total: int
    line: int
    """Line within the query of the first matched token."""


class CopiedIndex:
    def __init__(self, files: list[dict], exact: tuple[np.ndarray, np.ndarray],
                 renamed: tuple[np.ndarray, np.ndarray]) -> None:
        self.files = files
        self.passes = {"exact": exact, "renamed": renamed}

    @classmethod
    def load(cls, path: Path) -> CopiedIndex:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: index format {meta.get('format')}, expected "
                                 f"{FORMAT}; rebuild it with 'codeward license-index build'")
            return cls(meta["files"], (data["exact_h"], data["exact_f"]),
                       (data["renamed_h"], data["renamed_f"]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"format": FORMAT, "k": K, "w": W, "files": self.files}).encode()
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, meta=np.frombuffer(meta, dtype=np.uint8),
                            exact_h=self.passes["exact"][0], exact_f=self.passes["exact"][1],
                            renamed_h=self.passes["renamed"][0],
                            renamed_f=self.passes["renamed"][1])
        os.replace(tmp, path)

    def lookup(self, text: str, min_fingerprints: int = 3,
               min_share: float = 0.5) -> list[Match]:
        exact, renamed, lines = tokens(text)
        out: list[Match] = []
        for name, toks in (("exact", exact), ("renamed", renamed)):
            fps = winnow(toks)
            need = min_fingerprints if name == "exact" else 2 * min_fingerprints
            share = min_share if name == "exact" else max(min_share, 0.6)
            if len(fps) < need:
                continue
            hashes, fids = self.passes[name]
            q = np.fromiter(fps.keys(), dtype=np.uint64, count=len(fps))
            lo = np.searchsorted(hashes, q, side="left")
            hi = np.searchsorted(hashes, q, side="right")
            counts: Counter[int] = Counter()
            first: dict[int, int] = {}
            for qi, (a, b) in enumerate(zip(lo, hi, strict=True)):
                for fid in set(fids[a:b].tolist()):
                    counts[fid] += 1
                    first.setdefault(fid, fps[int(q[qi])])
            for fid, n in counts.most_common(3):
                if n >= need and n / len(fps) >= share:
                    f = self.files[fid]
                    out.append(Match(f["path"], f["spdx"], f["categories"], f["source"], name,
                                     n, len(fps), lines[first[fid]]))
            if out:
                return out
        return out


def iter_sources(dirs: Iterable[Path]) -> Iterable[Path]:
    for d in dirs:
        if d.is_file():
            yield d
            continue
        for root, subdirs, names in os.walk(d):
            subdirs[:] = sorted(s for s in subdirs if not s.startswith(".") and
                                s != "__pycache__")
            for n in sorted(names):
                if n.endswith(SOURCE_SUFFIXES):
                    yield Path(root) / n


_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "COPYING.txt",
                  "METADATA", "PKG-INFO", "copyright")


def detect_license(path: Path, text: str, stop: Path) -> tuple[list[str], list[str], str]:
    """The file's own license notice, else the nearest license file up to ``stop``."""
    from .scancode import license_info, load_index

    index = load_index()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for source, body in _license_candidates(path, text, stop):
            matches = index.match(query_string=body[:20000], approximate=False)
            exprs = [m.rule.license_expression for m in matches if m.score() >= 80]
            if exprs:
                expr = max(set(exprs), key=exprs.count)
                spdx, cats = license_info(expr)
                return spdx, cats, source
    return ["LicenseRef-unknown"], ["Unstated License"], "none"


def _license_candidates(path: Path, text: str, stop: Path) -> Iterable[tuple[str, str]]:
    yield "file", text[:8000]
    folder = path.parent
    while True:
        for name in _LICENSE_FILES:
            cand = folder / name
            if cand.is_file():
                try:
                    yield str(cand), cand.read_text("utf-8", errors="replace")
                except OSError:
                    continue
        for meta in sorted(folder.glob("*.dist-info/METADATA")):
            yield str(meta), meta.read_text("utf-8", errors="replace")
        if folder == stop or folder.parent == folder:
            return
        folder = folder.parent


def build(dirs: list[Path], skip_unlicensed: bool = False,
          progress: Callable[[str], None] | None = None) -> CopiedIndex:
    files: list[dict] = []
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"exact": [], "renamed": []}
    for d in dirs:
        root = d.resolve()
        for path in iter_sources([root]):
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            spdx, cats, source = detect_license(path, text, root if root.is_dir()
                                                else root.parent)
            if skip_unlicensed and source == "none":
                continue
            exact, renamed, _ = tokens(text)
            fid = len(files)
            files.append({"path": str(path), "spdx": spdx, "categories": cats,
                          "source": source})
            for name, toks in (("exact", exact), ("renamed", renamed)):
                fps = np.fromiter(winnow(toks).keys(), dtype=np.uint64)
                parts[name].append((fps, np.full(len(fps), fid, dtype=np.uint32)))
            if progress:
                progress(f"{path}: {' AND '.join(spdx)} ({source})")
    arrays = {}
    max_df = max(3, len(files) // 50)
    for name, chunks in parts.items():
        h = np.concatenate([c[0] for c in chunks]) if chunks else np.empty(0, np.uint64)
        f = np.concatenate([c[1] for c in chunks]) if chunks else np.empty(0, np.uint32)
        order = np.argsort(h, kind="stable")
        h, f = h[order], f[order]
        # boilerplate seen in many files says nothing about where code came from
        uniq, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
        keep = counts[inverse] <= max_df
        arrays[name] = (h[keep], f[keep])
    return CopiedIndex(files, arrays["exact"], arrays["renamed"])
