"""Event rows joined into labelled outcomes, one per candidate plus one per text the
developer wrote (instead of a suggestion, or by editing an accepted one): the first step of
``dataset.build``. See ``dataset`` for what the labels mean."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codeward.server.events.outcomes import confidence_of, source_of

from .vetting import Vetter, flagged_rule

if TYPE_CHECKING:
    from .dataset import DatasetConfig


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
    kind: str = "candidate"
    """candidate (a served suggestion), written (written instead) or edited."""
    event_ids: list[str] = field(default_factory=list)
    against: str = ""
    """For an edited version: the original suggestion it is preferred over."""
    boilerplate: str = ""
    source: str = "model"
    confidence: float | None = None
    uri: str = ""


def _prompt(family: str, prefix: str, suffix: str, cfg: DatasetConfig) -> str:
    from codeward.server.fim import get_family, with_template

    fam = with_template(get_family(family), cfg.template)
    return fam.format(prefix[-cfg.max_prefix_chars:], suffix[: cfg.max_suffix_chars])


def join(events: Iterable[dict[str, Any]], cfg: DatasetConfig,
         vet: Vetter) -> tuple[list[Outcome], Counter]:
    """Join completion rows with their feedback; label each candidate (or say why not);
    add what was written instead and edited versions as chosen texts of their own."""
    completions: dict[tuple[str, int], dict[str, Any]] = {}
    feedback: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    written: dict[str, dict[str, Any]] = {}
    edited: dict[tuple[str, int], dict[str, Any]] = {}
    for ev in events:
        kind = ev.get("type")
        key = (str(ev.get("completion_id", "")), int(ev.get("candidate_index") or 0))
        if kind == "completion":
            completions[key] = ev
        elif kind in ("show", "accept", "dismiss", "survival"):
            feedback[key].append(ev)
        elif kind == "written":
            written[key[0]] = ev
        elif kind == "edited":
            edited[key] = ev
    counts: Counter = Counter()
    accepted_ids = {k[0] for k, rows in feedback.items()
                    if any(r["type"] == "accept" for r in rows)}
    written = _usable_written(written, accepted_ids, counts)
    out = [_candidate(key, row, feedback.get(key, []), key[0] in accepted_ids,
                      key[0] in written, cfg, vet) for key, row in completions.items()]
    firsts = {o.completion_id: completions[(o.completion_id, o.index)] for o in
              reversed(out)}
    for cid, row in written.items():
        if cid in firsts:
            out.append(_chosen("written", "written instead", firsts[cid], row,
                               str(row.get("text") or ""), -1, cfg, vet))
    for key, row in edited.items():
        if key in completions:
            o = _chosen("edited", "edited after acceptance", completions[key], row,
                        str(row.get("text") or ""), key[1], cfg, vet)
            o.against = str(completions[key].get("suggestion") or "")
            out.append(o)
    for o in out:
        if o.drop:
            counts[o.drop] += 1
    return [o for o in out if not o.drop], counts


def _usable_written(written: dict[str, dict[str, Any]], accepted_ids: set[str],
                    counts: Counter) -> dict[str, dict[str, Any]]:
    """Written-instead rows of completions that were not accepted and where the developer
    did not just type one of the candidates."""
    usable = {}
    for cid, row in written.items():
        if cid in accepted_ids:
            counts["written instead, but the completion was accepted"] += 1
        elif row.get("same_as_candidate") is not None:
            counts["written instead: the same as a candidate"] += 1
        else:
            usable[cid] = row
    return usable


def _outcome(key: tuple[str, int], row: dict[str, Any], text: str, cfg: DatasetConfig,
             ) -> Outcome:
    return Outcome(completion_id=key[0], index=key[1],
                   prompt=_prompt(cfg.family, str(row.get("prefix") or ""),
                                  str(row.get("suffix") or ""), cfg),
                   text=text, user=str(row.get("user_hash") or ""),
                   repo=str(row.get("repo_hash") or ""), at=float(row.get("at") or 0),
                   event_ids=[str(row.get("event_id") or "")], uri=str(row.get("uri_hash") or ""))


def _chosen(kind: str, why: str, completion: dict[str, Any], row: dict[str, Any], text: str,
            index: int, cfg: DatasetConfig, vet: Vetter) -> Outcome:
    """A chosen text that the developer wrote (instead, or by editing): vetted like an
    accepted suggestion."""
    o = _outcome((str(completion.get("completion_id", "")), index), completion, text, cfg)
    o.kind, o.label, o.why = kind, "accepted", why
    o.event_ids.append(str(row.get("event_id") or ""))
    o.at = float(row.get("at") or o.at)
    if len(text.strip()) < cfg.min_chars:
        o.drop = f"{kind} text too short"
    elif "<redacted:" in text:
        o.drop = "chosen text redacted"
    else:
        o.flagged = vet(str(completion.get("prefix") or ""), text,
                        str(completion.get("suffix") or ""))
        o.drop = "chosen flagged by analyzers" if o.flagged else ""
    return o


def _candidate(key: tuple[str, int], row: dict[str, Any], rows: list[dict[str, Any]],
               request_accepted: bool, written_over: bool, cfg: DatasetConfig,
               vet: Vetter) -> Outcome:
    """One served (or blocked) candidate, labelled from its feedback."""
    text = str(row.get("suggestion") or "")
    o = _outcome(key, row, text, cfg)
    o.event_ids += [str(r.get("event_id")) for r in rows if r.get("event_id")]
    shown_ms = [float(r["shown_ms"]) for r in rows if r.get("shown_ms") is not None]
    if shown_ms and max(shown_ms) < cfg.min_shown_ms:
        o.drop = f"shown < {cfg.min_shown_ms:g} ms"
        return o
    kinds = {r["type"] for r in rows}
    blocked = bool(row.get("blocked")) or row.get("action") == "block"
    if "accept" in kinds and not blocked:
        _accepted(o, row, rows, cfg, vet)
        return o
    if blocked:
        o.label, o.why = "rejected", "blocked by vetting"
    elif "dismiss" in kinds:
        o.label, o.why = "rejected", "dismissed"
    elif "show" in kinds and request_accepted:
        o.label, o.why = "rejected", "shown, another chosen"
    elif written_over:
        o.label, o.why = "rejected", "written over"
    else:
        o.drop = "no outcome (never shown or no feedback)"
    if o.label == "rejected" and len(text.strip()) < cfg.min_chars:
        o.drop = "rejected text too short"
    return o


def _accepted(o: Outcome, row: dict[str, Any], rows: list[dict[str, Any]],
              cfg: DatasetConfig, vet: Vetter) -> None:
    """Label an accepted candidate by its survival (accepted-then-deleted is rejected)."""
    acc = max((r for r in rows if r["type"] == "accept"), key=lambda r: r.get("at") or 0)
    length = acc.get("accepted_length")
    accepted = o.text[: int(length)] if length is not None else o.text
    if len(accepted.strip()) < cfg.min_chars:
        o.drop = "accepted text too short"
        return
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
    elif o.label == "accepted" and "<redacted:" in o.text:
        o.drop = "chosen text redacted"
    if o.label == "accepted":
        o.source, o.confidence = source_of(row), confidence_of(row)
