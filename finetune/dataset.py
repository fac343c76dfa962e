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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STYLE_ANALYZERS = ("style", "ruff")
"""Findings from these analyzers do not make a chosen text unsafe (only security, secrets and
license findings do)."""


@dataclass
class DatasetConfig:
    family: str = "codeward"
    """FIM family of the model to train (its template builds the prompt)."""
    template: str = ""
    """The model's own FIM template (its manifest's ``fim_template``), if it differs."""
    max_prefix_chars: int = 1500
    """Prefix kept in a prompt (its tail)."""
    max_suffix_chars: int = 400
    """Suffix kept in a prompt (its head)."""
    min_shown_ms: float = 100.0
    """Feedback for a suggestion shown for less than this is noise (or a bot): dropped."""
    kept_threshold: float = 0.5
    """Accepted, then less than this share of the accepted characters kept: a rejection."""
    max_user_share: float = 0.25
    """Largest share of rows one user may contribute (applies with 2+ users)."""
    max_repo_share: float = 0.4
    """Largest share of rows one repository may contribute (applies with 2+ repositories)."""
    min_chars: int = 2
    """Chosen or accepted texts shorter than this (stripped) are dropped."""
    max_pairs_per_request: int = 4
    heldout_fraction: float = 0.1
    """Share of requests (by completion id hash) kept apart for the gate."""
    vet: bool = True
    """Re-vet every chosen text with the analyzers (on top of the serve-time findings)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_user_share", "max_repo_share", "kept_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"DatasetConfig.{name}={value}: must be in (0, 1]")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError("DatasetConfig.heldout_fraction: must be in [0, 1)")
        if self.min_shown_ms < 0 or self.max_prefix_chars < 1 or self.max_pairs_per_request < 1:
            raise ValueError("DatasetConfig: min_shown_ms >= 0, max_prefix_chars >= 1 and "
                             "max_pairs_per_request >= 1 are required")


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

    def table(self) -> str:
        rows = [("kept: preference pairs (train)", self.pairs),
                ("kept: preference pairs (held out)", self.heldout_pairs),
                ("kept: unpaired examples (train)", self.unpaired),
                ("kept: unpaired examples (held out)", self.heldout_unpaired)]
        rows += [(f"dropped: {k}", v) for k, v in sorted(self.counts.items())]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'what':<{width}}  count", f"{'-' * width}  -----"]
        lines += [f"{name:<{width}}  {n:5d}" for name, n in rows]
        return "\n".join(lines)


def _prompt(family: str, prefix: str, suffix: str, cfg: DatasetConfig) -> str:
    from codeward.server.fim import get_family, with_template

    fam = with_template(get_family(family), cfg.template)
    return fam.format(prefix[-cfg.max_prefix_chars:], suffix[: cfg.max_suffix_chars])


_STYLE: set[str] | None = None
_PIPELINE: Any = None


def style_analyzers() -> set[str]:
    """Names of style analyzers (their findings never make a text unsafe)."""
    global _STYLE
    if _STYLE is None:
        _STYLE = set(STYLE_ANALYZERS)
        try:
            from codeward.analyzers.pipeline import discover

            _STYLE |= {n for n, cls in discover().items()
                       if getattr(cls, "category", "") == "style"}
        except Exception:
            logger.debug("analyzer categories unavailable", exc_info=True)
    return _STYLE


STATUS_RULES = "CW-VET-"
"""Pipeline status findings (warming, timeout, error): the code was not checked."""


def _flagged_findings(findings: Iterable[Any], ignore_status: bool = False) -> str:
    """The rule id of the first security/secrets/license finding, or ''. With
    ``ignore_status``, 'not checked' findings do not count (the caller re-vets)."""
    style = style_analyzers()
    for f in findings or []:
        if not isinstance(f, dict):
            f = f.to_dict() if hasattr(f, "to_dict") else dict(getattr(f, "__dict__", {}))
        who = str(f.get("analyzer") or f.get("category") or f.get("source") or "").lower()
        if who in style or str(f.get("category", "")).lower() == "style":
            continue
        if ignore_status and str(f.get("rule_id", "")).startswith(STATUS_RULES):
            continue
        return str(f.get("rule_id") or who or "finding")
    return ""


def offline_pipeline() -> Any:
    """The analyzers for offline vetting (dataset, gate): a generous budget, warmed up, so
    that a finding means the code and never a timeout."""
    global _PIPELINE
    if _PIPELINE is None:
        from codeward.analyzers.pipeline import Pipeline

        pipeline = Pipeline.from_settings({}, {"budget_ms": 20000.0})
        wait = getattr(pipeline, "wait_ready", None)
        if wait is not None:
            wait(timeout=300)
        _PIPELINE = pipeline
    return _PIPELINE


def make_vetter(enabled: bool) -> Callable[[str, str, str], str]:
    """A function (prefix, text, suffix) -> rule id of a security/secrets/license finding."""
    if not enabled:
        return lambda prefix, text, suffix: ""
    from codeward.analyzers.contract import VetContext

    try:
        pipeline = offline_pipeline()
    except Exception as exc:
        raise RuntimeError(f"the analyzers cannot start ({exc}); fix them or pass --no-vet "
                           "to rely on serve-time findings only") from exc

    def vet(prefix: str, text: str, suffix: str) -> str:
        try:
            result = pipeline.vet(VetContext(prefix=prefix, suggestion=text, suffix=suffix))
        except Exception:  # fail closed: an unvetted chosen text is not used
            logger.exception("vetting failed; the row is dropped")
            return "vetting error"
        flagged = _flagged_findings(result.findings)
        if not flagged and result.action == "block":
            flagged = "blocked"
        return flagged

    return vet


def join(events: Iterable[dict[str, Any]], cfg: DatasetConfig,
         vet: Callable[[str, str, str], str]) -> tuple[list[Outcome], Counter]:
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
            flag = _flagged_findings(row.get("findings") or [], ignore_status=cfg.vet) or \
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
          vet: Callable[[str, str, str], str] | None = None
          ) -> tuple[dict[str, list[dict[str, Any]]], DatasetReport]:
    """The dataset splits (train/held-out pairs and unpaired rows) and the keep/drop report."""
    cfg = cfg or DatasetConfig()
    vet = vet or make_vetter(cfg.vet)
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
                           heldout_unpaired=len(splits["heldout_unpaired"]))
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


def iter_events(source: str, since: float | None = None) -> Iterator[dict[str, Any]]:
    """Events from a ``.jsonl`` file (one row per line, e.g. ``codeward simulate``'s log) or
    from the event store (``sqlite:///PATH``, ``postgresql://...``: ``open_store``)."""
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
    from codeward.server.events.store import open_store  # type: ignore[import-not-found]

    store = open_store(source)
    try:
        yield from store.iter_events(since=since)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
