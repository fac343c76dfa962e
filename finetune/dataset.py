"""``codeward finetune dataset``: completion events + feedback -> preference data.

Two outputs from the same join:

* **pairs** (DPO), each with its ``kind``: ``accepted-vs-rejected`` (for one request, an
  accepted candidate against a sibling that was shown and not chosen, dismissed, blocked by
  vetting, or accepted and then deleted); ``written-vs-dismissed`` (what the developer wrote
  instead, against the candidates it was not given or did not take); ``edited-vs-original``
  (an accepted suggestion as the developer edited it, against the suggestion).
* **unpaired** (KTO): each candidate with an outcome as (prompt, completion, label, weight);
  accepted-and-kept counts more, accepted-then-deleted counts as rejected; what was written
  instead and edited versions are desirable rows of their own.

Every row carries its provenance: ``kind`` and ``event_ids`` (the store rows it came from).

Poisoning defences, on every kind of row, each counted in the keep/drop table: chosen text
flagged by a security, secrets or license analyzer (at serve time or re-vetted now) is
dropped, and so is chosen text that holds a redaction placeholder; events shown for less
than ``min_shown_ms`` are dropped; near-duplicates are collapsed; no single user or
repository may make up more than ``max_user_share`` / ``max_repo_share`` of the rows.
Chosen text that is boilerplate the project already gives (``boilerplate``: license
headers, duplicate blocks, what the index completes confidently) is dropped or down-weighted
(``boilerplate_weight``), counted per reason.

Events are plain dicts (see the event store): ``completion`` rows, one per candidate;
``show``/``accept``/``dismiss`` feedback rows; ``survival`` rows; ``written`` (per
completion) and ``edited`` (per accepted candidate) rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .boilerplate import Boilerplate
from .flags import option
from .joins import Outcome, join
from .vetting import (
    Vetter,
    make_vetter,
    not_checked_notes,
    offline_pipeline,
    unavailable_analyzers,
)

logger = logging.getLogger(__name__)

@dataclass
class DatasetConfig:
    family: str = option("codeward", "FIM family of the model to train (its template builds "
                                     "the prompt); 'finetune run' takes the serving model's")
    template: str = option("", "the model's own FIM template (its manifest's fim_template)",
                           cli=False)
    max_prefix_chars: int = option(1500, "prefix characters kept in a prompt (its tail)")
    max_suffix_chars: int = option(400, "suffix characters kept in a prompt (its head)")
    min_shown_ms: float = option(100.0, "feedback for a suggestion shown for less than this "
                                        "many ms is noise (or a bot): dropped")
    kept_threshold: float = option(0.5, "accepted, then less than this share of the accepted "
                                        "characters kept: counted as a rejection")
    max_user_share: float = option(0.25, "largest share of rows one user may contribute "
                                         "(applies with 2+ users)")
    max_repo_share: float = option(0.4, "largest share of rows one repository may contribute "
                                        "(applies with 2+ repositories)")
    min_chars: int = option(2, "chosen or accepted texts shorter than this (stripped) are "
                               "dropped")
    max_pairs_per_request: int = option(4, "preference pairs built from one request at most")
    heldout_fraction: float = option(0.1, "share of requests (by completion id hash) kept "
                                          "apart for the gate")
    vet: bool = option(True, "do not re-vet chosen texts with the analyzers (rely on the "
                             "serve-time findings only)")
    project: str = option("", "the project's folder: a chosen text that occurs twice in its "
                              "files is a duplicate block (boilerplate)", metavar="DIR")
    boilerplate_weight: float = option(0.0, "weight factor of a chosen text that is "
                                            "boilerplate (license header, duplicate block, "
                                            "what the index completes); 0 = drop it")
    index_confidence: float = option(0.5, "an index candidate at or above this gate "
                                          "confidence is boilerplate when chosen")
    seed: int = option(0, "seed of the per-user and per-repository sampling", cli=False)

    def __post_init__(self) -> None:
        for name in ("max_user_share", "max_repo_share", "kept_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"DatasetConfig.{name}={value}: must be in (0, 1], e.g. 0.25")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"DatasetConfig.heldout_fraction={self.heldout_fraction}: must be "
                             "in [0, 1), e.g. 0.1")
        if not 0.0 <= self.boilerplate_weight <= 1.0:
            raise ValueError(f"DatasetConfig.boilerplate_weight={self.boilerplate_weight}: "
                             "must be in [0, 1] (0 drops boilerplate rows)")
        if self.min_shown_ms < 0:
            raise ValueError(f"DatasetConfig.min_shown_ms={self.min_shown_ms}: must be >= 0")
        for name in ("max_prefix_chars", "max_suffix_chars", "max_pairs_per_request"):
            if getattr(self, name) < 1:
                raise ValueError(f"DatasetConfig.{name}={getattr(self, name)}: must be at "
                                 "least 1")


@dataclass
class DatasetReport:
    counts: Counter = field(default_factory=Counter)
    down_weighted: Counter = field(default_factory=Counter)
    """Boilerplate rows kept with a lower weight, per reason."""
    kinds: Counter = field(default_factory=Counter)
    """Kept rows (train and held out) per kind."""
    pairs: int = 0
    unpaired: int = 0
    heldout_pairs: int = 0
    heldout_unpaired: int = 0
    notes: list[str] = field(default_factory=list)
    """Said once under the table (e.g. an analyzer that could not check anything)."""

    def table(self) -> str:
        rows = [("kept: preference pairs (train)", self.pairs),
                ("kept: preference pairs (held out)", self.heldout_pairs),
                ("kept: unpaired examples (train)", self.unpaired),
                ("kept: unpaired examples (held out)", self.heldout_unpaired)]
        rows += [(f"  of which {k}", v) for k, v in sorted(self.kinds.items())]
        rows += [(f"dropped: {k}", v) for k, v in sorted(self.counts.items())]
        rows += [(f"down-weighted: {k}", v) for k, v in sorted(self.down_weighted.items())]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'what':<{width}}  count", f"{'-' * width}  -----"]
        lines += [f"{name:<{width}}  {n:5d}" for name, n in rows]
        return "\n".join(lines + self.notes)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def collapse_duplicates(items: list[Outcome], counts: Counter) -> list[Outcome]:
    """Keep one outcome per (normalized prompt tail, normalized text, label)."""
    seen: set[str] = set()
    kept = []
    for o in sorted(items, key=lambda o: (o.at, o.completion_id, o.index)):
        key = hashlib.sha256("\x00".join(
            (_norm(o.prompt)[-300:], _norm(o.text), o.label)).encode()).hexdigest()
        if key in seen:
            counts["near-duplicate"] += 1
            continue
        seen.add(key)
        kept.append(o)
    return kept


def cap_share(items: list[Outcome], attr: str, share: float, counts: Counter,
              seed: int, what: str) -> list[Outcome]:
    """Drop rows of any source above ``share`` of the total (only with 2+ sources)."""
    sources = Counter(getattr(o, attr) for o in items)
    if len(sources) < 2:
        return items
    limit = max(1, int(share * len(items)))
    rng = random.Random(seed)  # noqa: S311 (sampling, not crypto)
    by_source: dict[str, list[Outcome]] = defaultdict(list)
    for o in items:
        by_source[getattr(o, attr)].append(o)
    kept = []
    for _source, rows in sorted(by_source.items()):
        if len(rows) > limit:
            rng.shuffle(rows)
            counts[f"{what} over {share:.0%} share"] += len(rows) - limit
            rows = rows[:limit]
        kept.extend(rows)
    return sorted(kept, key=lambda o: (o.at, o.completion_id, o.index))


def is_heldout(completion_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{completion_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


PAIR_KINDS = {"candidate": "accepted-vs-rejected", "written": "written-vs-dismissed",
              "edited": "edited-vs-original"}


def make_pairs(items: list[Outcome], cfg: DatasetConfig) -> list[dict[str, Any]]:
    by_request: dict[str, list[Outcome]] = defaultdict(list)
    for o in items:
        by_request[o.completion_id].append(o)
    pairs = []
    for cid, group in sorted(by_request.items()):
        rejected = [o for o in group if o.label == "rejected" and o.text.strip()]
        n = 0
        for c in (o for o in group if o.label == "accepted"):
            against: list[tuple[str, int, str, list[str]]]
            if c.kind == "edited":
                against = [(c.against, c.index, "the original suggestion", [])]
            else:
                against = [(r.text, r.index, r.why, r.event_ids) for r in rejected]
            for text, index, why, ids in against:
                if n >= cfg.max_pairs_per_request or not text.strip() \
                        or _norm(text) == _norm(c.text):
                    continue
                pairs.append({"prompt": c.prompt, "chosen": c.text, "rejected": text,
                              "completion_id": cid, "chosen_index": c.index,
                              "rejected_index": index, "rejected_why": why,
                              "kind": PAIR_KINDS[c.kind], "weight": round(c.weight, 4),
                              "event_ids": [*c.event_ids, *ids]})
                n += 1
    return pairs


def unpaired(rows: list[Outcome]) -> list[dict[str, Any]]:
    return [{"prompt": o.prompt, "completion": o.text, "label": o.label == "accepted",
             "weight": round(o.weight, 4), "why": o.why, "completion_id": o.completion_id,
             "index": o.index, "kind": o.kind, "event_ids": o.event_ids} for o in rows]


def mark_boilerplate(items: list[Outcome], cfg: DatasetConfig, counts: Counter,
                     down_weighted: Counter) -> list[Outcome]:
    """Drop (or down-weight) chosen texts that are boilerplate the project already gives."""
    check = Boilerplate(Path(cfg.project) if cfg.project else None, cfg.index_confidence)
    chosen = [o for o in items if o.label == "accepted"]
    check.observe((o.repo, o.uri, o.text) for o in chosen)
    kept = []
    for o in items:
        reason = check.reason(o.text, o.prompt, o.repo, o.source, o.confidence) \
            if o.label == "accepted" else ""
        if reason and cfg.boilerplate_weight <= 0:
            counts[f"boilerplate: {reason}"] += 1
            continue
        if reason:
            o.boilerplate, o.weight = reason, o.weight * cfg.boilerplate_weight
            down_weighted[f"boilerplate: {reason}"] += 1
        kept.append(o)
    return kept


def build(events: Iterable[dict[str, Any]], cfg: DatasetConfig | None = None,
          vet: Vetter | None = None
          ) -> tuple[dict[str, list[dict[str, Any]]], DatasetReport]:
    """The dataset splits (train/held-out pairs and unpaired rows) and the keep/drop report."""
    cfg = cfg or DatasetConfig()
    notes = []
    if vet is None:
        vet = make_vetter(cfg.vet)
        if cfg.vet:
            notes = not_checked_notes(unavailable_analyzers(offline_pipeline()))
    items, counts = join(events, cfg, vet)
    down: Counter = Counter()
    items = mark_boilerplate(items, cfg, counts, down)
    items = collapse_duplicates(items, counts)
    items = cap_share(items, "user", cfg.max_user_share, counts, cfg.seed, "user")
    items = cap_share(items, "repo", cfg.max_repo_share, counts, cfg.seed, "repository")
    held = [o for o in items if is_heldout(o.completion_id, cfg.heldout_fraction, cfg.seed)]
    train = [o for o in items if not is_heldout(o.completion_id, cfg.heldout_fraction, cfg.seed)]
    splits = {"pairs": make_pairs(train, cfg), "unpaired": unpaired(train),
              "heldout_pairs": make_pairs(held, cfg), "heldout_unpaired": unpaired(held)}
    kinds = Counter(f"{r['kind']} pairs" for r in splits["pairs"] + splits["heldout_pairs"])
    kinds.update(f"{r['kind']} rows" for r in splits["unpaired"] + splits["heldout_unpaired"])
    report = DatasetReport(counts=counts, down_weighted=down, kinds=kinds,
                           pairs=len(splits["pairs"]), unpaired=len(splits["unpaired"]),
                           heldout_pairs=len(splits["heldout_pairs"]),
                           heldout_unpaired=len(splits["heldout_unpaired"]), notes=notes)
    return splits, report


def write(out_dir: Path, splits: dict[str, list[dict[str, Any]]], report: DatasetReport,
          cfg: DatasetConfig, source: str, events_seen: int, last_event_at: float) -> Path:
    """Write the splits as JSONL plus ``provenance.json`` (config, source, counts, sha256)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in splits.items():
        path = out_dir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), "utf-8")
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    provenance = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "source": source,
        "events_seen": events_seen, "last_event_at": last_event_at, "config": asdict(cfg),
        "kept": {k: len(v) for k, v in splits.items()}, "dropped": dict(report.counts),
        "kinds": dict(report.kinds), "down_weighted": dict(report.down_weighted),
        "files": files,
    }
    (out_dir / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", "utf-8")
    return out_dir


def read_split(dataset_dir: Path, name: str) -> list[dict[str, Any]]:
    path = Path(dataset_dir) / f"{name}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def dataset_id(dataset_dir: Path) -> str:
    """A short content hash of a written dataset (for lineage)."""
    prov = Path(dataset_dir) / "provenance.json"
    files = json.loads(prov.read_text("utf-8")).get("files", {}) if prov.is_file() else {}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]


def event_source(source: str) -> str:
    """``source``, or (when empty) the user's event store, where ``codeward serve`` records
    what happens to its suggestions."""
    if source:
        return source
    from codeward.server.events.config import EventSettings, is_sqlite, sqlite_path

    url = EventSettings().store_url()
    if is_sqlite(url) and not Path(sqlite_path(url)).is_file():
        raise ValueError(f"no events yet: the event store {sqlite_path(url)} does not exist. "
                         "Use Codeward in an editor first (codeward serve records there what "
                         "happens to its suggestions) or pass --events FILE (e.g. a "
                         "'codeward simulate --events' log)")
    return url


def iter_events(source: str, since: float | None = None) -> Iterator[dict[str, Any]]:
    """Events from a ``.jsonl`` file (one row per line, e.g. ``codeward simulate``'s log) or
    from the event store (``sqlite:///PATH``, ``postgresql://...``: ``open_store``; empty:
    the user's, see ``event_source``)."""
    source = event_source(source)
    path = Path(source).expanduser()
    if path.suffix in (".jsonl", ".ndjson"):
        with path.open("r", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("%s:%d: not JSON, skipped", path, n)
                    continue
                if since is None or float(row.get("at") or 0) > since:
                    yield row
        return
    from codeward.server.events.store import open_store

    store = open_store(source)
    try:
        yield from store.iter_events(since=since)
    finally:
        store.close()
