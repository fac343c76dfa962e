"""Training rows for ``codeward model train-base``: text windows drawn from the corpus,
some turned into fill-in-the-middle samples, packed into rows of exactly ``context`` token
ids. Every batch is a pure function of (seed, step), so a resumed run sees exactly the
batches it would have seen."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import corpus as corpus_mod
from .tiny import EOS

if TYPE_CHECKING:
    from .train_base import PretrainConfig


class Sampler:
    """Draws training text windows: a source (weight = min(bytes, cap)), a file in it
    (weight = bytes), a window starting at a line start."""

    def __init__(self, items: list[tuple[str, Path]], cap_bytes: float) -> None:
        by_source: dict[str, list[tuple[Path, int]]] = {}
        for key, path in items:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            by_source.setdefault(key.split("/", 1)[0], []).append((path, size))
        self.sources = sorted(by_source)
        self.files = [by_source[s] for s in self.sources]
        self.source_weights = [min(sum(sz for _, sz in f), cap_bytes) for f in self.files]
        self.file_weights = [[sz for _, sz in f] for f in self.files]
        self._cache: dict[Path, str] = {}

    def text(self, path: Path) -> str:
        if path not in self._cache:
            if len(self._cache) > 4000:
                self._cache.clear()
            self._cache[path] = corpus_mod.read_text(path) or ""
        return self._cache[path]

    def window(self, rng: random.Random, chars: int) -> tuple[str, bool]:
        """(text, reaches_end_of_file)."""
        for _ in range(20):
            s = rng.choices(range(len(self.files)), self.source_weights)[0]
            path, _ = rng.choices(self.files[s], self.file_weights[s])[0]
            text = self.text(path)
            if len(text) < 40:
                continue
            start = 0
            if len(text) > chars:
                start = rng.randrange(0, len(text) - chars // 2)
                start = text.rfind("\n", 0, start) + 1
            piece = text[start:start + chars]
            return piece, start + chars >= len(text)
        return "", True


def fim_split(text: str, rng: random.Random) -> tuple[str, str, str]:
    """Prefix, middle, suffix at character positions. Half the middles end at a line end
    (what an editor's single/multi-line completion looks like), half are random spans."""
    start = rng.randrange(0, len(text) + 1)
    if rng.random() < 0.5:
        end = start
        for _ in range(min(int(rng.expovariate(0.7)), 12) + 1):
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
            if rng.random() < 0.5:
                break
    else:
        end = rng.randrange(start, min(len(text), start + max(1, len(text) // 3)) + 1)
    return text[:start], text[start:end], text[end:]


def fim_ids(tok: Any, pre: str, mid: str, suf: str, spm: bool, room: int) -> list[int]:
    """One FIM sample as token ids, trimmed to ``room`` tokens at its outer edges (start of
    the prefix, end of the suffix, end of the middle) so that the middle is never lost to
    packing. Special tokens split the text, so encoding the parts separately gives the same
    tokens as encoding the whole sample (prefix + middle are one part in SPM form)."""
    ids = {n: tok.token_to_id(t) for n, t in (("pre", "<fim_prefix>"), ("suf", "<fim_suffix>"),
                                              ("mid", "<fim_middle>"), ("eos", EOS))}
    body = room - 4
    s = tok.encode(suf).ids
    if spm:
        pm = tok.encode(pre + mid).ids
        s = s[: max(body // 4, body - len(pm))]
        pm = pm[max(0, len(pm) - (body - len(s))):]
        return [ids["pre"], ids["suf"], *s, ids["mid"], *pm, ids["eos"]]
    m = tok.encode(mid).ids[: max(1, body // 3)]
    p = tok.encode(pre).ids
    s = s[: max(body // 4, body - len(m) - len(p))]
    p = p[max(0, len(p) - (body - len(m) - len(s))):]
    return [ids["pre"], *p, ids["suf"], *s, ids["mid"], *m, ids["eos"]]


def make_batch(sampler: Sampler, tok: Any, cfg: PretrainConfig, step: int,
               salt: int = 0) -> list[list[int]]:
    """Rows of exactly ``cfg.context`` token ids, packed from samples; a pure function of
    (seed, step, salt). A FIM sample is sized to the room left in its row (never cut off
    before its middle); plain text fills the rest."""
    rng = random.Random(cfg.seed * 1_000_003 + step * 7919 + salt)  # noqa: S311 - data order
    eos = tok.token_to_id(EOS)
    rows = []
    for _ in range(cfg.batch_size):
        row: list[int] = []
        while len(row) < cfg.context:
            room = cfg.context - len(row)
            if room >= 48 and rng.random() < cfg.fim_rate:
                size = rng.randint(min(room, 96), room)
                text, _ = sampler.window(rng, int(size * 3.2))
                pre, mid, suf = fim_split(text, rng)
                row.extend(fim_ids(tok, pre, mid, suf, rng.random() < cfg.spm_rate, size))
            else:
                text, at_end = sampler.window(rng, int(cfg.context * 3.2))
                row.extend(tok.encode(text).ids + ([eos] if at_end else []))
        rows.append(row[: cfg.context])
    return rows
