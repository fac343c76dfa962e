"""Segments on disk: one ``.npz`` per segment under the user cache directory, named by the
content hash of what it indexes; files 0600 in a 0700 directory, written atomically."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from .model import SourceDoc
from .segment import Anchors, Segment

logger = logging.getLogger(__name__)

FORMAT = 3
"""Bumped whenever the lexer, the key or the file layout changes (old files are then
ignored)."""


def cache_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("codeward")) / "index"


def content_key(docs: list[SourceDoc], label: str, rules: str = "") -> str:
    """sha256 over the format, a label, the secret filter's ``rules`` (a fingerprint) and
    each document's path, metadata and text (as read: the segment holds them blanked)."""
    h = hashlib.sha256(f"{FORMAT}\0{label}\0{rules}\0".encode())
    for d in docs:
        h.update(f"{d.path}\0{d.source}\0{d.license}\0{int(d.own)}\0".encode())
        h.update(hashlib.sha256(d.text.encode("utf-8", "surrogatepass")).digest())
    return h.hexdigest()[:32]


def save(segment: Segment, folder: Path, key: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    meta = {"format": FORMAT, "docs": [[d.path, d.source, d.license, d.own]
                                       for d in segment.docs],
            "vocab": segment.vocab.strings}
    texts = "".join(d.text for d in segment.docs).encode("utf-8", "surrogatepass")
    text_lengths = np.asarray([len(d.text.encode("utf-8", "surrogatepass"))
                               for d in segment.docs], dtype=np.int64)
    anchor_counts = np.asarray([len(a.tokens) for a in segment.anchors], dtype=np.int64)
    empty = np.zeros(0, np.int32)
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "texts": np.frombuffer(texts, dtype=np.uint8), "text_lengths": text_lengths,
        "rev": segment.rev, "sa": segment.sa, "asa": segment.asa, "lengths": segment.lengths,
        "anchor_counts": anchor_counts,
        "anchor_tokens": np.concatenate([a.tokens for a in segment.anchors] or [empty]),
        "anchor_offsets": np.concatenate([a.offsets for a in segment.anchors] or [empty]),
    }
    target = folder / f"{key}.npz"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load(path: Path) -> Segment | None:
    """The segment saved at ``path``; None (and a log line) if it is missing or unusable."""
    from .lexer import Vocabulary

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes())
            if meta.get("format") != FORMAT:
                return None
            blob = z["texts"].tobytes()
            lengths = z["text_lengths"]
            counts = z["anchor_counts"]
            a_tok, a_off = z["anchor_tokens"], z["anchor_offsets"]
            rev, sa, asa, tok_lengths = z["rev"], z["sa"], z["asa"], z["lengths"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("index cache %s unreadable (%s); rebuilding", path, exc)
        return None
    docs, anchors = [], []
    pos = 0
    a_pos = 0
    for (p, source, lic, own), n, c in zip(meta["docs"], lengths.tolist(), counts.tolist(),
                                           strict=True):
        text = blob[pos: pos + n].decode("utf-8", "surrogatepass")
        pos += n
        docs.append(SourceDoc(p, text, source, lic, bool(own)))
        anchors.append(Anchors(a_tok[a_pos: a_pos + c], a_off[a_pos: a_pos + c]))
        a_pos += c
    return Segment(docs, Vocabulary(meta["vocab"]), [], anchors, rev=rev, sa=sa,
                   lengths=tok_lengths, asa=asa)


def clear(folder: Path | None = None) -> int:
    """Delete every cached segment; returns how many files were removed."""
    folder = folder or cache_root()
    removed = 0
    if folder.is_dir():
        for f in folder.glob("*.npz"):
            f.unlink(missing_ok=True)
            removed += 1
    return removed
