"""``codeward finetune dataset``: completion events + feedback -> preference data.

Two outputs from the same join:

* **pairs** (DPO): for one request, an accepted candidate (chosen) against a sibling that
  was shown and not chosen, dismissed, blocked by vetting, or accepted and then deleted.
* **unpaired** (KTO): each candidate with an outcome as (prompt, completion, label, weight);
  accepted-and-kept counts more, accepted-then-deleted counts as rejected.

Poisoning defences, each counted in the keep/drop table: chosen text flagged by a security,
secrets or license analyzer (at serve time or re-vetted now) is dropped; events shown for
less than ``min_shown_ms`` are dropped; near-duplicates are collapsed; no single user or
repository may make up more than ``max_user_share`` / ``max_repo_share`` of the rows.

Events are plain dicts (see the event store): ``completion`` rows, one per candidate;
``show``/``accept``/``dismiss`` feedback rows; ``survival`` rows.
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

from .flags import option
from .vetting import (
    Vetter,
    flagged_rule,
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
    seed: int = option(0, "seed of the per-user and per-repository sampling", cli=False)

    def __post_init__(self) -> None:
        for name in ("max_user_share", "max_repo_share", "kept_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"DatasetConfig.{name}={value}: must be in (0, 1], e.g. 0.25")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"DatasetConfig.heldout_fraction={self.heldout_fraction}: must be "
                             "in [0, 1), e.g. 0.1")
        if self.min_shown_ms < 0:
            raise ValueError(f"DatasetConfig.min_shown_ms={self.min_shown_ms}: must be >= 0")
        for name in ("max_prefix_chars", "max_suffix_chars", "max_pairs_per_request"):
            if getattr(self, name) < 1:
                raise ValueError(f"DatasetConfig.{name}={getattr(self, name)}: must be at "
                                 "least 1")


@dataclass
class Outcome:
    """One candidate of one request, joined with its feedback."""

    completion_id: str
    index: int
    prompt: str
    text: str
    user: str
    repo: str
    at: float
    label: str = ""
    """accepted, rejected or none."""
    why: str = ""
    weight: float = 1.0
    flagged: str = ""
    drop: str = ""


@dataclass
class DatasetReport:
    counts: Counter = field(default_factory=Counter)
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
        rows += [(f"dropped: {k}", v) for k, v in sorted(self.counts.items())]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'what':<{width}}  count", f"{'-' * width}  -----"]
        lines += [f"{name:<{width}}  {n:5d}" for name, n in rows]
        return "\n".join(lines + self.notes)


def _prompt(family: str, prefix: str, suffix: str, cfg: DatasetConfig) -> str:
    from codeward.server.fim import get_family, with_template

    fam = with_template(get_family(family), cfg.template)
    return fam.format(prefix[-cfg.max_prefix_chars:], suffix[: cfg.max_suffix_chars])


def join(events: Iterable[dict[str, Any]], cfg: DatasetConfig,
         vet: Vetter) -> tuple[list[Outcome], Counter]:
    """Join completion rows with their feedback; label each candidate (or say why not)."""
    completions: dict[tuple[str, int], dict[str, Any]] = {}
    feedback: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        kind = ev.get("type")
        key = (str(ev.get("completion_id", "")), int(ev.get("candidate_index") or 0))
        if kind == "completion":
            completions[key] = ev
        elif kind in ("show", "accept", "dismiss", "survival"):
            feedback[key].append(ev)
    counts: Counter = Counter()
    out: list[Outcome] = []
    accepted_ids = {k[0] for k, rows in feedback.items()
                    if any(r["type"] == "accept" for r in rows)}
    for key, row in completions.items():
        rows = feedback.get(key, [])
        text = str(row.get("suggestion") or "")
        o = Outcome(completion_id=key[0], index=key[1],
                    prompt=_prompt(cfg.family, str(row.get("prefix") or ""),
                                   str(row.get("suffix") or ""), cfg),
                    text=text, user=str(row.get("user_hash") or ""),
                    repo=str(row.get("repo_hash") or ""), at=float(row.get("at") or 0))
        out.append(o)
        shown_ms = [float(r["shown_ms"]) for r in rows if r.get("shown_ms") is not None]
        if shown_ms and max(shown_ms) < cfg.min_shown_ms:
            o.drop = f"shown < {cfg.min_shown_ms:g} ms"
            continue
        kinds = {r["type"] for r in rows}
        blocked = bool(row.get("blocked")) or row.get("action") == "block"
        if "accept" in kinds and not blocked:
            acc = max((r for r in rows if r["type"] == "accept"),
                      key=lambda r: r.get("at") or 0)
            length = acc.get("accepted_length")
            accepted = text[: int(length)] if length is not None else text
            if len(accepted.strip()) < cfg.min_chars:
                o.drop = "accepted text too short"
                continue
            o.text = accepted
            surv = [r for r in rows if r["type"] == "survival" and r.get("accepted_chars")]
            if surv:
                last = max(surv, key=lambda r: float(r.get("after_s") or 0))
                kept = float(last.get("kept_chars") or 0) / max(float(last["accepted_chars"]), 1)
                if kept < cfg.kept_threshold:
                    o.label, o.why, o.weight = "rejected", "accepted then deleted", 1.0
                else:
                    o.label, o.why, o.weight = "accepted", "accepted and kept", 1.0 + kept
            else:
                o.label, o.why = "accepted", "accepted"
            flag = flagged_rule(row.get("findings") or [], ignore_status=cfg.vet) or \
                vet(str(row.get("prefix") or ""), o.text, str(row.get("suffix") or ""))
            if o.label == "accepted" and flag:
                o.flagged = flag
                o.drop = "chosen flagged by analyzers"
            continue
        if blocked:
            o.label, o.why = "rejected", "blocked by vetting"
        elif "dismiss" in kinds:
            o.label, o.why = "rejected", "dismissed"
        elif "show" in kinds and key[0] in accepted_ids:
            o.label, o.why = "rejected", "shown, another chosen"
        else:
            o.drop = "no outcome (never shown or no feedback)"
        if o.label == "rejected" and len(text.strip()) < cfg.min_chars:
            o.drop = "rejected text too short"
    for o in out:
        if o.drop:
            counts[o.drop] += 1
    return [o for o in out if not o.drop], counts


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


def make_pairs(items: list[Outcome], cfg: DatasetConfig) -> list[dict[str, Any]]:
    by_request: dict[str, list[Outcome]] = defaultdict(list)
    for o in items:
        by_request[o.completion_id].append(o)
    pairs = []
    for cid, group in sorted(by_request.items()):
        chosen = [o for o in group if o.label == "accepted"]
        rejected = [o for o in group if o.label == "rejected" and o.text.strip()]
        n = 0
        for c in chosen:
            for r in rejected:
                if n >= cfg.max_pairs_per_request or _norm(r.text) == _norm(c.text):
                    continue
                pairs.append({"prompt": c.prompt, "chosen": c.text, "rejected": r.text,
                              "completion_id": cid, "chosen_index": c.index,
                              "rejected_index": r.index, "rejected_why": r.why})
                n += 1
    return pairs


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
    items = collapse_duplicates(items, counts)
    items = cap_share(items, "user", cfg.max_user_share, counts, cfg.seed, "user")
    items = cap_share(items, "repo", cfg.max_repo_share, counts, cfg.seed, "repository")
    held = [o for o in items if is_heldout(o.completion_id, cfg.heldout_fraction, cfg.seed)]
    train = [o for o in items if not is_heldout(o.completion_id, cfg.heldout_fraction, cfg.seed)]

    def unpaired(rows: list[Outcome]) -> list[dict[str, Any]]:
        return [{"prompt": o.prompt, "completion": o.text, "label": o.label == "accepted",
                 "weight": round(o.weight, 4), "why": o.why, "completion_id": o.completion_id,
                 "index": o.index} for o in rows]

    splits = {"pairs": make_pairs(train, cfg), "unpaired": unpaired(train),
              "heldout_pairs": make_pairs(held, cfg), "heldout_unpaired": unpaired(held)}
    report = DatasetReport(counts=counts, pairs=len(splits["pairs"]),
                           unpaired=len(splits["unpaired"]),
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
