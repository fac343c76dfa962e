"""``codeward eval``: completion quality of a converted model on held-out Python files.

Cursor positions (seeded): a line of a held-out file is being typed, and the cursor is at
the end of what has been typed so far, either right after the line's indentation
(``new-line``: the whole line is to come) or inside the line (``mid-line``). The rest of that
line is removed from the document; the text after it stays as the suffix. Each position
goes through :func:`codeward.server.completion.run_completion` with an
:class:`~codeward.server.engine.Engine` and the server's default settings, so the prompt,
the single/multi-line decision and the post-processing are the server's own (vetting too
with ``--vet``; off by default so that the numbers measure the model, not the policy).

Metrics (over positions whose expected rest of line is not empty):

- ``exact_match``: the suggestion's first line equals the rest of the line (trailing
  whitespace ignored);
- ``edit_similarity``: 1 - Levenshtein(first line, rest of line) / max(lengths);
- ``accepted_chars``: characters of the suggestion that match the real continuation from
  its start (what accepting word by word would keep), per non-empty suggestion, and
  ``accepted_chars_per_request`` counting empty answers as 0;
- ``empty_rate``: share of requests answered with no suggestion;
- ``latency_ms``: p50/p95 of the whole ``run_completion`` call, also split into single-line
  and multi-line requests.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codeward.server.events.survival import common_prefix

from . import corpus as corpus_mod
from .flags import option


@dataclass
class EvalConfig:
    model: str = option("", "converted model directory (default: the model the server would "
                            "use)", metavar="DIR")
    corpus_dirs: list[str] = option([], "folder of held-out .py files (default: the default "
                                        "corpus' held-out split); repeatable",
                                    flag="--corpus", metavar="DIR")
    files: int = option(60, "at most this many files")
    positions: int = option(300, "cursor positions in all")
    seed: int = option(0, "seed of the positions")
    heldout_share: float = option(0.02, "held-out share of the default corpus")
    mid_line_share: float = option(0.5, "share of positions inside a line (else after its "
                                        "indentation)")
    vet: bool = option(False, "also run the vetting pipeline (blocked suggestions count as "
                              "empty; its time counts in the latency); default: the model "
                              "alone")

    def __post_init__(self) -> None:
        for name in ("files", "positions"):
            if getattr(self, name) < 1:
                raise ValueError(f"EvalConfig.{name}={getattr(self, name)}: must be at least 1")
        if not 0 <= self.mid_line_share <= 1:
            raise ValueError(f"EvalConfig.mid_line_share={self.mid_line_share}: must be within "
                             "0..1")


@dataclass
class Position:
    key: str
    kind: str
    """``new-line`` or ``mid-line``."""
    text: str
    """The document as the user has it: the rest of the cursor line removed."""
    offset: int
    expected_line: str
    continuation: str
    """The real text after the cursor (rest of line + following lines)."""


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def edit_similarity(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def heldout_files(cfg: EvalConfig) -> list[tuple[str, Path]]:
    if cfg.corpus_dirs:
        return corpus_mod.corpus_from([Path(d) for d in cfg.corpus_dirs]).items()
    _, held = corpus_mod.default_corpus().split(cfg.heldout_share)
    return held


def pick_positions(files: list[tuple[str, Path]], cfg: EvalConfig) -> list[Position]:
    """Seeded cursor positions, spread evenly over up to ``cfg.files`` files."""
    rng = random.Random(cfg.seed)  # noqa: S311 - seeded sampling, not security
    files = sorted(files)
    rng.shuffle(files)
    chosen: list[tuple[str, str, list[int]]] = []
    for key, path in files:
        text = corpus_mod.read_text(path)
        if not text or len(text) > corpus_mod.MAX_FILE_BYTES:
            continue
        lines = text.splitlines(keepends=True)
        good = [i for i, line in enumerate(lines) if len(line.strip()) >= 4 and i > 0]
        if good:
            chosen.append((key, text, good))
        if len(chosen) >= cfg.files:
            break
    positions: list[Position] = []
    for n in range(cfg.positions if chosen else 0):
        key, text, good = chosen[n % len(chosen)]
        lines = text.splitlines(keepends=True)
        i = rng.choice(good)
        line = lines[i].rstrip("\r\n")
        body_start = len(line) - len(line.lstrip(" \t"))
        if rng.random() < cfg.mid_line_share and len(line) - body_start >= 2:
            cut, kind = rng.randrange(body_start + 1, len(line)), "mid-line"
        else:
            cut, kind = body_start, "new-line"
        line_offset = sum(len(x) for x in lines[:i])
        offset = line_offset + cut
        rest_of_file = text[line_offset + len(line):]
        positions.append(Position(
            key=key, kind=kind, text=text[:offset] + rest_of_file, offset=offset,
            expected_line=line[cut:], continuation=line[cut:] + rest_of_file))
    return positions


def score(pos: Position, suggestion: str) -> dict[str, Any]:
    """How good ``suggestion`` is at ``pos``: ``exact`` (its first line equals the rest of
    the line, trailing whitespace ignored), ``edit_similarity`` of that first line and
    ``accepted`` (characters matching the real continuation from the start)."""
    first = suggestion.split("\n", 1)[0].rstrip()
    expected = pos.expected_line.rstrip()
    return {"exact": bool(suggestion) and first == expected,
            "edit_similarity": round(edit_similarity(first, expected), 4),
            "accepted": common_prefix(suggestion, pos.continuation)}


class PassThrough:
    """Vetting off (``vet=False``): every suggestion allowed unchanged."""

    def vet(self, ctx):  # type: ignore[no-untyped-def]
        from codeward.analyzers.contract import PipelineResult

        return PipelineResult(action="allow", text=ctx.suggestion)

    def close(self) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    non_empty = [r for r in rows if r["suggestion"]]
    lat = [r["latency_ms"] for r in rows]
    single = [r["latency_ms"] for r in rows if not r["multiline"]]
    multi = [r["latency_ms"] for r in rows if r["multiline"]]

    def mean(xs: list[float]) -> float:
        return round(statistics.fmean(xs), 4) if xs else 0.0

    return {
        "positions": n,
        "exact_match": mean([float(r["exact"]) for r in rows]),
        "edit_similarity": mean([r["edit_similarity"] for r in rows]),
        "accepted_chars": mean([float(r["accepted"]) for r in non_empty]),
        "accepted_chars_per_request": mean([float(r["accepted"]) for r in rows]),
        "empty_rate": round(1 - len(non_empty) / n, 4) if n else 0.0,
        "latency_ms": {"p50": round(percentile(lat, 0.5), 1),
                       "p95": round(percentile(lat, 0.95), 1)},
        "single_line_latency_ms": {"n": len(single), "p50": round(percentile(single, 0.5), 1),
                                   "p95": round(percentile(single, 0.95), 1)},
        "multi_line_latency_ms": {"n": len(multi), "p50": round(percentile(multi, 0.5), 1),
                                  "p95": round(percentile(multi, 0.95), 1)},
    }


def measure_completions(cfg: EvalConfig) -> dict[str, Any]:
    """Run the server's completion path at seeded held-out positions; the metrics report."""
    from codeward.analyzers.pipeline import Pipeline
    from codeward.server import models
    from codeward.server.completion import CompletionRequest, run_completion
    from codeward.server.engine import Engine
    from codeward.server.settings import Settings

    settings = Settings()
    model_dir = models.resolve_model_dir(cfg.model, settings.model.registry)
    engine = Engine(model_dir, settings.engine)
    pipeline: Any = Pipeline.from_settings(settings.analyzers, settings.vetting) if cfg.vet \
        else PassThrough()
    positions = pick_positions(heldout_files(cfg), cfg)
    if not positions:
        raise ValueError("no held-out Python files with usable lines were found")
    rows: list[dict[str, Any]] = []
    try:
        for i, pos in enumerate([positions[0], *positions]):
            req = CompletionRequest(uri=f"file:///eval/{pos.key}", path="", language="python",
                                    version=0, text=pos.text, offset=pos.offset,
                                    settings=settings, kind="eval")
            t0 = time.perf_counter()
            result = run_completion(engine, pipeline, req, threading.Event(), uuid.uuid4().hex)
            latency = (time.perf_counter() - t0) * 1000
            if i == 0:
                continue  # warm-up
            suggestion = result.candidates[0].text if result.candidates else ""
            rows.append({
                "file": pos.key, "kind": pos.kind, "multiline": result.multiline,
                "expected": pos.expected_line.rstrip(), "suggestion": suggestion,
                **score(pos, suggestion),
                "latency_ms": round(latency, 2), "prompt_tokens": result.prompt_tokens,
            })
    finally:
        pipeline.close()
    by_kind = {k: _summary([r for r in rows if r["kind"] == k]) for k in ("new-line", "mid-line")}
    return {
        "model": engine.label, "model_dir": str(model_dir),
        "model_size_bytes": sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file()),
        "config": asdict(cfg), "files": len({r["file"] for r in rows}),
        "overall": _summary(rows), "by_kind": by_kind, "samples": rows,
    }


METRICS = [("exact_match", "next-line exact match", "{:.1%}"),
           ("edit_similarity", "edit similarity", "{:.3f}"),
           ("accepted_chars", "accepted-prefix chars / suggestion", "{:.1f}"),
           ("accepted_chars_per_request", "accepted-prefix chars / request", "{:.1f}"),
           ("empty_rate", "empty suggestions", "{:.1%}")]


def format_table(report: dict[str, Any]) -> str:
    cols = [("all", report["overall"]), ("new-line", report["by_kind"]["new-line"]),
            ("mid-line", report["by_kind"]["mid-line"])]
    lines = [f"model {report['model']} ({report['model_dir']}), {report['files']} held-out "
             f"files, {report['overall']['positions']} positions", "",
             f"| {'metric':36} | " + " | ".join(f"{c:>9}" for c, _ in cols) + " |",
             f"|{'-' * 38}|" + "|".join("-" * 11 for _ in cols) + "|"]
    for key, label, fmt in METRICS:
        lines.append(f"| {label:36} | " + " | ".join(f"{fmt.format(s[key]):>9}" for _, s in cols)
                     + " |")
    for key, label in (("latency_ms", "latency"), ("single_line_latency_ms", "single-line"),
                       ("multi_line_latency_ms", "multi-line")):
        for q in ("p50", "p95"):
            lines.append(f"| {label + ' ' + q + ' (ms)':36} | "
                         + " | ".join(f"{s[key][q]:>9.1f}" for _, s in cols) + " |")
    return "\n".join(lines)
