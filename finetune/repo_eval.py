"""``codeward eval --repo``: completion quality on a real repository, per source and combined.

Positions: the seeded cursor positions of ``codeward eval`` (:func:`~.evaluate.pick_positions`,
same sampling, same exact-match definition, :func:`~.evaluate.score`) in the repository's
Python files outside its tests. At each position the document as the user has it (the rest
of the cursor line removed) is the open document, and every other file of the repository is
the workspace. Each completion source answers every position once and its answer is kept
with the gate's inputs (the model's mean token log-probability, the index's match length
and vote share); the combination policies and thresholds are then applied to the kept
answers, so a threshold sweep costs no extra completions.

Metrics per source or policy (over positions whose rest of line is not empty): next-line
exact match, the same with license-header lines left out (a comment block at the top of a
file whose lines recur at the top of other files of the repository), precision among shown
suggestions, shown rate, accepted characters per request and latency p50/p95; per
repository, the share of positions whose whole line occurs verbatim elsewhere in it (where
a copy of a line can be exact: the bound of a copying completer, mid-line rests aside).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codeward.server import postprocess

from . import corpus as corpus_mod
from .evaluate import EvalConfig, Position, percentile, pick_positions, score


@dataclass
class Answer:
    """One source's suggestion at one position, with what the confidence gate reads."""

    text: str = ""
    """The source's first candidate ("" = none)."""
    latency_ms: float = 0.0
    features: dict[str, Any] = field(default_factory=dict)
    """The gate's inputs for the first candidate (kept in the JSON report)."""
    candidates: list[Any] = field(default_factory=list)
    """The source's own candidate objects, in its order, for the gate and the policy."""


class CompletionSource(Protocol):
    name: str

    def open_repository(self, root: Path, files: list[tuple[str, Path]]) -> None: ...
    def answer(self, pos: Position, path: Path) -> Answer: ...
    def close(self) -> None: ...


@dataclass
class Row:
    pos: Position
    line: int
    header: bool
    multiline: bool
    """Whether the server asks for a block here (``postprocess.wants_multiline``)."""
    elsewhere: bool = False
    """The cursor's whole line occurs verbatim elsewhere in the repository (another line of
    this file or of any other file): where a copy could be exact at all."""
    shape_elsewhere: bool = False
    """Its identifier-abstracted form (:func:`line_shape`) occurs elsewhere, the line itself
    not: where only a renamed copy could be exact."""
    shape_local: bool = False
    """And every identifier of the line is a word of the 3,000 characters before the
    cursor: where a renamed copy re-filled from the context could be exact."""
    answers: dict[str, Answer] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """:func:`~.evaluate.score` of each text shown here so far (a sweep shows few)."""
    cleaned: dict[tuple[str, int], list[Any]] = field(default_factory=dict, repr=False)
    """Each source's candidates after the server's clean-up (the same under every
    threshold of a sweep)."""

    def score(self, text: str) -> dict[str, Any]:
        if text not in self.scores:
            self.scores[text] = score(self.pos, text)
        return self.scores[text]


# -- the repository ------------------------------------------------------------------------

def repository_files(root: Path) -> list[tuple[str, Path]]:
    """(key, path) of the repository's Python files, tests included (the workspace)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if {".venv", "__pycache__", ".git"} & set(rel.parts) or not path.is_file():
            continue
        if 0 < path.stat().st_size <= corpus_mod.MAX_FILE_BYTES:
            out.append((f"{root.name}/{rel}", path))
    return out


def position_files(root: Path) -> list[tuple[str, Path]]:
    """The files positions are drawn from: the code outside tests (as ``codeward eval``)."""
    return corpus_mod.corpus_from([Path(root)]).items()


def _leading_comment(text: str) -> list[str]:
    block: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        block.append(stripped)
    return block


def license_header_lines(texts: dict[str, str]) -> dict[str, int]:
    """Per file, how many of its first lines are a license header: the leading comment
    block, up to its last line that also occurs in another file's leading comment block."""
    blocks = {key: _leading_comment(text) for key, text in texts.items()}
    seen = Counter(line for block in blocks.values() for line in set(block) if len(line) > 1)
    out: dict[str, int] = {}
    for key, block in blocks.items():
        shared = [i for i, line in enumerate(block) if seen[line] > 1]
        out[key] = shared[-1] + 1 if shared else 0
    return out


def line_counts(files: list[tuple[str, Path]]) -> Counter[str]:
    """How often each stripped non-empty line occurs in these files."""
    counts: Counter[str] = Counter()
    for _, path in files:
        counts.update(line.strip() for line in (corpus_mod.read_text(path) or "").splitlines()
                      if line.strip())
    return counts


def occurs_elsewhere(pos: Position, counts: Counter[str]) -> bool:
    """Whether the cursor's whole line occurs in the repository other than where it is."""
    before = pos.text[:pos.offset]
    line = (before[before.rfind("\n") + 1:] + pos.expected_line).strip()
    return counts[line] >= 2


def line_shape(line: str) -> tuple[str, ...]:
    """A line's tokens with the k-th distinct abstractable identifier as slot k (what the
    index's renamed copies can turn into one another)."""
    from codeward.server.index.lexer import abstractable, lex

    slots: dict[str, int] = {}
    return tuple(f"\0{slots.setdefault(t, len(slots))}" if abstractable(t) else t
                 for t in lex(line.strip()).strings)


def shape_counts(counts: Counter[str]) -> Counter[tuple[str, ...]]:
    """How often each line shape occurs, from :func:`line_counts`."""
    shapes: Counter[tuple[str, ...]] = Counter()
    for line, n in counts.items():
        shapes[line_shape(line)] += n
    return shapes


def shape_flags(pos: Position, counts: Counter[str],
                shapes: Counter[tuple[str, ...]]) -> tuple[bool, bool]:
    """(``Row.shape_elsewhere``, ``Row.shape_local``) at ``pos``."""
    from codeward.server.index.lexer import abstractable, lex

    before = pos.text[:pos.offset]
    line = (before[before.rfind("\n") + 1:] + pos.expected_line).strip()
    if counts[line] >= 2 or shapes[line_shape(line)] < 2:
        return False, False
    near = before[-3000:]
    local = all(re.search(rf"(?<!\w){re.escape(t)}(?!\w)", near)
                for t in lex(line).strings if abstractable(t))
    return True, local


def collect(root: Path, cfg: EvalConfig, sources: list[CompletionSource],
            progress: Callable[[str], None] = lambda _: None) -> list[Row]:
    """Every source's answer at every position of the repository at ``root``."""
    root = Path(root).resolve()
    chosen = position_files(root)
    positions = pick_positions(chosen, cfg)
    if not positions:
        raise ValueError(f"{root}: no Python files with usable lines were found")
    paths = dict(chosen)
    texts = {key: corpus_mod.read_text(path) or "" for key, path in chosen}
    headers = license_header_lines(texts)
    workspace = repository_files(root)
    counts = line_counts(workspace)
    shapes = shape_counts(counts)
    rows = []
    for pos in positions:
        line = pos.text[:pos.offset].count("\n")
        multiline = postprocess.wants_multiline(pos.text[:pos.offset], pos.text[pos.offset:],
                                                "python")
        shaped, local = shape_flags(pos, counts, shapes)
        rows.append(Row(pos=pos, line=line, header=line < headers.get(pos.key, 0),
                        multiline=multiline, elsewhere=occurs_elsewhere(pos, counts),
                        shape_elsewhere=shaped, shape_local=local))
    for source in sources:
        t0 = time.perf_counter()
        source.open_repository(root, workspace)
        progress(f"{root.name}: {source.name} ready in {time.perf_counter() - t0:.1f} s")
        source.answer(rows[0].pos, paths[rows[0].pos.key])  # warm-up, not counted
        for row in rows:
            row.answers[source.name] = source.answer(row.pos, paths[row.pos.key])
        progress(f"{root.name}: {source.name} answered {len(rows)} positions")
    return rows


# -- policies and metrics ----------------------------------------------------------------------

@dataclass
class Policy:
    """What the editor is shown at a position: the server's own path from candidates to
    what is shown (``codeward.server.index.complete``: index copies cleaned and gated,
    their decision features and, under ``index.gate = "prior"``, the gate prior's verdicts,
    whether the model runs, model text cleaned and gated, then the promoted show policy
    (``learned``) or the combination policy) replayed on the kept candidates of ``sources``
    under ``settings`` (the server's ``Settings``; its ``index`` table holds the policy
    and the thresholds). The first candidate shown is what counts."""

    name: str
    settings: Any
    sources: tuple[str, ...] = ("index", "model")
    learned: Any = None
    """A promoted show policy (``codeward.server.showpolicy.Policy``); None: none."""
    prior: Any = None
    """A gate prior to use instead of the shipped one (the one being fitted), at the
    settings' ``index.prior_threshold``."""
    copies: str = "all"
    """Which index candidates: ``all``, ``verbatim`` or ``abstracted`` (renamed copies)."""

    def choose(self, row: Row) -> tuple[str, float, str]:
        """(shown text, latency in ms, source shown or ''). The model's time counts only
        where the server would run it."""
        from codeward.server.index import complete
        from codeward.server.index import prior as prior_mod
        from codeward.server.showpolicy import learned_policy, model_needed, policy_choose

        s = self.settings
        idx = row.answers.get("index") if "index" in self.sources else None
        mdl = row.answers.get("model") if "model" in self.sources else None
        copies = index_considered(row, s, self.copies) if idx else []
        policy = learned_policy(self.learned, s.index)
        if policy is None:
            copies = prior_mod.gate_copies(copies, prior_mod.prior_for(s.index, self.prior))
        latency = idx.latency_ms if idx else 0.0
        generated: list[Any] = []
        if mdl and (complete.needs_model(copies, s) if policy is None
                    else model_needed(policy, None, copies, s.index.policy)):
            latency += mdl.latency_ms
            generated = model_considered(row, s)
        shown = complete.choose(copies, generated, s) if policy is None \
            else policy_choose(policy, None, [c for c, _ in [*copies, *generated]])
        if not shown:
            return "", latency, ""
        return shown[0].text, latency, shown[0].source


def index_considered(row: Row, s: Any, copies: str = "all") -> list[Any]:
    """The index's candidates at ``row`` as ``run_completion`` considers them under the
    server settings ``s``: cleaned (kept per position: a sweep gates the same copies many
    times), gated, with their decision features; [] where the server asks no copies.
    ``copies``: ``all``, or only the ``verbatim`` or the ``abstracted`` (renamed) ones."""
    from codeward.server.index import complete
    from codeward.server.showpolicy import add_features

    idx = row.answers.get("index")
    if idx is None or not s.index.enabled or s.index.policy == "model-only":
        return []
    pos = row.pos
    prefix, suffix = pos.text[:pos.offset], pos.text[pos.offset:]
    key = (f"index:{copies}", s.completion.max_lines)
    if key not in row.cleaned:
        found = [c for c in idx.candidates
                 if copies == "all" or c.abstracted == (copies == "abstracted")]
        row.cleaned[key] = complete.clean_copies(found, prefix, suffix, s)
    gated = complete.gate_copies(row.cleaned[key], prefix, s)
    add_features(gated, prefix, suffix, "python", row.multiline)
    return gated


def model_considered(row: Row, s: Any) -> list[Any]:
    """The model's texts at ``row`` as ``run_completion`` considers them: cleaned, gated,
    with their decision features."""
    from codeward.server.index import complete
    from codeward.server.showpolicy import add_features

    mdl = row.answers.get("model")
    if mdl is None:
        return []
    pos = row.pos
    prefix, suffix = pos.text[:pos.offset], pos.text[pos.offset:]
    key = ("model", s.completion.max_lines)
    if key not in row.cleaned:
        row.cleaned[key] = complete.clean_generated(
            [raw for raw, _ in mdl.candidates], [lps for _, lps in mdl.candidates],
            prefix, suffix, s, row.multiline)
    generated = complete.gate_generated(row.cleaned[key], s)
    add_features(generated, prefix, suffix, "python", row.multiline)
    return generated


def summarize(rows: Iterable[Row], policy: Policy) -> dict[str, Any]:
    scored = []
    for row in rows:
        text, latency, shown_by = policy.choose(row)
        scored.append((row, row.score(text), latency, shown_by))

    def metrics(items: list[Any]) -> dict[str, Any]:
        n = len(items)
        shown = [s for _, s, _, by in items if by]
        exact = sum(s["exact"] for _, s, _, _ in items)
        lat = [lat for _, _, lat, _ in items]
        return {
            "positions": n, "shown": len(shown), "exact": exact,
            "exact_match": round(exact / n, 4) if n else 0.0,
            "precision": round(exact / len(shown), 4) if shown else 0.0,
            "shown_rate": round(len(shown) / n, 4) if n else 0.0,
            "accepted_chars": round(statistics.fmean(s["accepted"] for _, s, _, _ in items), 2)
            if n else 0.0,
            "latency_ms": {"p50": round(percentile(lat, 0.5), 1),
                           "p95": round(percentile(lat, 0.95), 1)},
        }

    out = metrics(scored)
    out["no_header"] = metrics([item for item in scored if not item[0].header])
    out["shown_by"] = dict(Counter(by for *_, by in scored if by))
    return out


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def samples(rows: list[Row]) -> list[dict[str, Any]]:
    """The kept answers, for the JSON report."""
    return [{"file": r.pos.key, "line": r.line + 1, "kind": r.pos.kind, "header": r.header,
             "elsewhere": r.elsewhere, "shape_elsewhere": r.shape_elsewhere,
             "shape_local": r.shape_local,
             "expected": r.pos.expected_line.rstrip(),
             "answers": {k: {"text": a.text, "latency_ms": a.latency_ms, **a.features}
                         for k, a in r.answers.items()}} for r in rows]


# -- a whole run ----------------------------------------------------------------------------

def evaluate_repository(root: Path, cfg: EvalConfig, sources: list[CompletionSource],
                        policies: list[Policy],
                        progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    rows = collect(root, cfg, sources, progress)
    return {"repository": Path(root).resolve().name, "positions": len(rows),
            "files": len({r.pos.key for r in rows}),
            "header_positions": sum(r.header for r in rows),
            "line_elsewhere": _share([r.elsewhere for r in rows]),
            "line_elsewhere_no_header": _share([r.elsewhere for r in rows if not r.header]),
            "shape_elsewhere_no_header": _share([r.shape_elsewhere for r in rows
                                                 if not r.header]),
            "shape_local_no_header": _share([r.shape_local for r in rows if not r.header]),
            "policies": {p.name: summarize(rows, p) for p in policies},
            "rows": rows}
