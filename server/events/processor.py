"""Turns what the server reports into store rows (runs in the writer thread, in order).

Messages: ``("completion", event, at)`` (a ``completion.CompletionEvent``), ``("feedback", kind, params, at)``,
``("change", uri, text, at)``. Redaction happens here, before any row exists; completions
in excluded files or in projects with ``events.enabled = false`` produce no rows, and
feedback about them is ignored.

Feedback params (the client's notifications, documented in the README):

- ``id`` (string, required): the completion id from the item's command / data;
- ``index`` (int, default 0): the candidate index;
- ``acceptedLength`` (accept; int, default the whole suggestion): characters accepted
  (partial acceptance when smaller);
- ``reason`` (dismiss): ``escape``, ``typed-over``, ``superseded``, ``timeout`` (anything
  else is stored as ``other``);
- ``shownMs`` (any; number): how long the suggestion had been visible.

Unknown ids, bad params and duplicates (a second show or dismiss of the same candidate, an
accept no longer than one already recorded) are counted and skipped. For clients that never
run the accept command, an acceptance is inferred from the document's next change when it
inserts an offered candidate exactly (see ``_infer_accept``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codeward.server.context import is_excluded

from . import config
from .config import EventSettings
from .ids import Hasher
from .redact import Redactor, window_after, window_before
from .survival import Tracker, edit_region, expected_after_accept, locate
from .written import Watch, Watches, edited_row, move

if TYPE_CHECKING:
    from codeward.server.completion import CompletionEvent

logger = logging.getLogger(__name__)

DISMISS_REASONS = ("escape", "typed-over", "superseded", "timeout")
CACHE_SIZE = 2000
DOCS_KEPT = 64


@dataclass
class _Meta:
    recorded: bool
    uri: str = ""
    offset: int = 0
    doc: str | None = None
    texts: dict[int, str] = field(default_factory=dict)
    common: dict[str, Any] = field(default_factory=dict)
    redactor: Redactor | None = None
    prefix_chars: int = 0
    shown: set[int] = field(default_factory=set)
    dismissed: set[int] = field(default_factory=set)
    accepted: dict[int, int] = field(default_factory=dict)


class Processor:
    def __init__(self, cfg: EventSettings, hasher: Hasher, exclude: list[str] | None = None,
                 ) -> None:
        self.cfg = cfg
        self.hasher = hasher
        self.exclude = [*(exclude or []), *cfg.exclude]
        self.user_hash = hasher.user(cfg)
        self.cache: OrderedDict[str, _Meta] = OrderedDict()
        self.texts: dict[str, str] = {}
        self.trackers: dict[tuple[str, int], Tracker] = {}
        self.counts: Counter[str] = Counter()
        self.offered: dict[str, str] = {}
        """uri -> the last completion offered there, until the document's next change."""
        self._projects: dict[str, tuple[EventSettings, Redactor]] = {}
        self.watches = Watches(cfg.written_window_s, self.counts)

    def warm(self) -> None:
        Redactor.plugins()

    def handle(self, msg: tuple[Any, ...]) -> list[dict[str, Any]]:
        kind = msg[0]
        if kind == "completion":
            return self._completion(msg[1], msg[2])
        if kind == "feedback":
            return self._feedback(msg[1], msg[2], msg[3])
        if kind == "change":
            rows = self._change(msg[1], msg[2], msg[3])
            accepted = self._infer_accept(msg[1], msg[2], msg[3])
            if accepted:  # the change was the acceptance: nothing was written instead
                cid = accepted[0]["completion_id"]
                rows = [r for r in rows if r.get("completion_id") != cid]
            return rows + accepted
        if kind == "warm":
            self.warm()
            return []
        raise ValueError(f"unknown event message {kind!r}")

    # -- completions -------------------------------------------------------------------------
    def _project(self, raw: dict[str, Any]) -> tuple[EventSettings, Redactor]:
        key = json.dumps(raw, sort_keys=True, default=str)
        if key not in self._projects:
            cfg, errors = config.parse(raw) if raw else (self.cfg, [])
            for e in errors:
                logger.warning("codeward settings: %s", e)
            self._projects[key] = (cfg, Redactor(cfg.redact_patterns))
        return self._projects[key]

    def _completion(self, event: CompletionEvent, at: float) -> list[dict[str, Any]]:
        req, result = event.request, event.result
        cands = [(c, False) for c in result.candidates] + [(c, True) for c in result.blocked]
        withheld = not cands and result.reason == "withheld" and bool(result.gate)
        if not cands and not withheld:
            return []
        cfg, redactor = self._project(req.settings.events)
        exclude = [*self.exclude, *cfg.exclude, *req.settings.context.exclude]
        if not cfg.enabled or is_excluded(req.path, exclude):
            self.counts["not_logged"] += 1
            self._remember(result.id, _Meta(recorded=False))
            self.texts.pop(req.uri, None)
            return []
        common = {"completion_id": result.id, "model_version": result.model,
                  "language": req.language, "uri_hash": self.hasher(req.uri),
                  "repo_hash": self.hasher.repo(req.path), "user_hash": self.user_hash}
        if withheld:  # nothing shown: its gate inputs and features only, no text
            self.counts["withheld"] += 1
            return [{"type": "withheld", "event_id": uuid.uuid4().hex, **common,
                     "candidate_index": None, "at": at, "kind": req.kind,
                     "multiline": result.multiline, "reason": result.reason,
                     "latency_ms": round(result.latency_ms, 3),
                     "candidates": len(result.gate),
                     "gate": [dict(g) for g in result.gate]}]
        before = window_before(req.text, req.offset, cfg.prefix_chars)
        after = window_after(req.text, req.offset, cfg.suffix_chars)
        rows = []
        for cand, blocked in cands:
            suggestion = cand.text or cand.raw
            (prefix, text, suffix), counts = redactor.redact_parts([before, suggestion, after])
            rows.append({
                "type": "completion", "event_id": uuid.uuid4().hex, **common,
                "candidate_index": cand.index, "at": at, "prefix": prefix, "suffix": suffix,
                "suggestion": text, "action": cand.action,
                "findings": redactor.redact_value(list(cand.findings)),
                "statuses": dict(cand.statuses), "latency_ms": round(result.latency_ms, 3),
                "blocked": blocked, "kind": req.kind,
                "multiline": result.multiline, "reason": result.reason,
                "prompt_ms": round(result.prompt_ms, 3),
                "generation_ms": round(result.generation_ms, 3),
                "vetting_ms": round(result.vetting_ms, 3), "prompt_tokens": result.prompt_tokens,
                "redactions": dict(counts), "source": getattr(cand, "source", "model"),
                "gate": dict(getattr(cand, "gate", {}) or {}),
                "provenance": _provenance(getattr(cand, "provenance", None), self.hasher),
            })
        texts = {c.index: c.text for c in result.candidates}
        self._remember(result.id, _Meta(
            recorded=True, uri=req.uri, offset=req.offset, doc=req.text, texts=texts,
            common=common, redactor=redactor, prefix_chars=cfg.prefix_chars))
        self.watches.start(Watch(
            result.id, req.uri, [req.offset, req.offset], at, 0, result.multiline, common,
            redactor, cfg.prefix_chars, cfg.suffix_chars, texts), req.text,
            self.texts.get(req.uri))
        self.texts.setdefault(req.uri, req.text)
        if result.candidates:
            self.offered[req.uri] = result.id
        self.counts["completions"] += 1
        return rows

    def _infer_accept(self, uri: str, text: str, at: float) -> list[dict[str, Any]]:
        """Clients that ignore the item's accept command (eglot 1.9, plain LSP clients):
        when the first change after a completion makes the document exactly what inserting
        one of its candidates gives, that is an acceptance (``reason = "inferred"``). An
        explicit accept of the same candidate, before or after, is not counted twice."""
        cid = self.offered.pop(uri, None)
        meta = self.cache.get(cid) if cid else None
        if cid is None or meta is None or meta.doc is None or meta.accepted:
            return []
        before, after = meta.doc[: meta.offset], meta.doc[meta.offset:]
        for index, cand in meta.texts.items():
            if cand.strip() and len(text) == len(meta.doc) + len(cand) and \
                    text == before + cand + after:
                rows = self._feedback("accept", {"id": cid, "index": index}, at)
                for row in rows:
                    row["reason"] = "inferred"
                self.counts["inferred_accept"] += len(rows)
                return rows
        return []

    def _remember(self, cid: str, meta: _Meta) -> None:
        self.cache[cid] = meta
        self.cache.move_to_end(cid)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        if len(self.cache) > DOCS_KEPT:  # keep memory bounded: old entries drop their text
            list(self.cache.values())[-DOCS_KEPT - 1].doc = None

    # -- feedback ----------------------------------------------------------------------------
    def _feedback(self, kind: str, params: dict[str, Any], at: float) -> list[dict[str, Any]]:
        if kind == "close":
            return self._close(str(params.get("uri", "")), at)
        cid, index = params.get("id"), params.get("index", 0)
        if not isinstance(cid, str) or not cid or isinstance(index, bool) \
                or not isinstance(index, int) or kind not in ("show", "accept", "dismiss"):
            self.counts["invalid"] += 1
            logger.debug("ignoring %s feedback with bad params %r", kind, params)
            return []
        meta = self.cache.get(cid)
        if meta is None:
            self.counts["unknown_id"] += 1
            logger.debug("ignoring %s for unknown completion %s", kind, cid)
            return []
        if not meta.recorded:
            return []
        if index not in meta.texts:
            self.counts["invalid"] += 1
            logger.debug("ignoring %s for unknown candidate %s/%s", kind, cid, index)
            return []
        text = meta.texts[index]
        row: dict[str, Any] = {
            "type": kind, "event_id": uuid.uuid4().hex, **meta.common,
            "candidate_index": index, "at": at, "accepted_length": None, "reason": None,
            "shown_ms": _number(params.get("shownMs")), "suggestion_length": len(text),
            "partial": False,
        }
        if kind == "show":
            if index in meta.shown:
                return self._duplicate(kind, cid)
            meta.shown.add(index)
        elif kind == "dismiss":
            if index in meta.dismissed or index in meta.accepted:
                return self._duplicate(kind, cid)
            meta.dismissed.add(index)
            reason = params.get("reason")
            row["reason"] = reason if reason in DISMISS_REASONS else "other"
        else:
            length = params.get("acceptedLength")
            if not isinstance(length, int) or isinstance(length, bool):
                length = len(text)
            length = max(0, min(length, len(text)))
            if length <= meta.accepted.get(index, -1):
                return self._duplicate(kind, cid)
            meta.accepted[index] = length
            self.watches.cancel(cid)
            row.update(accepted_length=length, partial=length < len(text))
            self._track(cid, index, meta, text[:length], at)
        self.counts[kind] += 1
        return [row]

    def _duplicate(self, kind: str, cid: str) -> list[dict[str, Any]]:
        self.counts["duplicate"] += 1
        logger.debug("ignoring duplicate %s for %s", kind, cid)
        return []

    # -- survival ----------------------------------------------------------------------------
    def _track(self, cid: str, index: int, meta: _Meta, accepted: str, at: float) -> None:
        if not accepted.strip():
            return
        base = self.texts.get(meta.uri, meta.doc)
        if base is None:
            self.counts["untracked"] += 1
            return
        pos = locate(base, accepted, meta.offset)
        if pos is None:  # the edit inserting it has not arrived yet: expect it
            expected = expected_after_accept(base, meta.offset, accepted)
            self._change(meta.uri, expected, at)
            pos = meta.offset
        self.trackers[(cid, index)] = Tracker(
            cid, index, meta.uri, accepted, at, runs=[[pos, pos + len(accepted)]],
            meta=dict(meta.common), span=[pos, pos + len(accepted)],
            redactor=meta.redactor, original=meta.texts.get(index, accepted),
            prefix_chars=meta.prefix_chars)

    def _change(self, uri: str, text: str, at: float) -> list[dict[str, Any]]:
        old = self.texts.get(uri)
        if old is None:  # first sight: keep it (in memory only) unless the file is excluded
            if not is_excluded(_path(uri), self.exclude):
                self.texts[uri] = text
            return []
        self.texts[uri] = text
        if old is text or old == text:
            return []
        trackers = [t for t in self.trackers.values() if t.uri == uri]
        if trackers:
            region = edit_region(old, text)
            for t in trackers:
                t.apply(*region)
                if t.span is not None:
                    move(t.span, old, text, grow_at_start=False, region=region)
        return self.watches.change(uri, old, text, at)

    def _rows(self, t: Tracker, at: float, after_s: float, checkpoint: str, final: bool
              ) -> list[dict[str, Any]]:
        """The survival row; at the final one also the ``edited`` row when the accepted
        lines now read differently."""
        rows = [{"type": "survival", "event_id": uuid.uuid4().hex, **t.meta,
                 "completion_id": t.completion_id, "candidate_index": t.candidate_index,
                 "at": at, "after_s": after_s, "checkpoint": checkpoint,
                 "accepted_chars": len(t.accepted), "kept_chars": t.kept, "final": final}]
        edited = edited_row(t, self.texts.get(t.uri, ""), at) if final else None
        if edited is not None:
            self.counts["edited"] += 1
            rows.append(edited)
        return rows

    def tick(self, now: float) -> list[dict[str, Any]]:
        rows = []
        cps = self.cfg.checkpoints
        for key, t in list(self.trackers.items()):
            while t.next_checkpoint < len(cps) and now >= t.accepted_at + cps[t.next_checkpoint]:
                cp = cps[t.next_checkpoint]
                t.next_checkpoint += 1
                final = t.next_checkpoint == len(cps)
                rows.extend(self._rows(t, now, cp, f"{cp:g}s", final))
                if final:
                    del self.trackers[key]
        return rows + self.watches.tick(now, self.texts)

    def _close(self, uri: str, now: float) -> list[dict[str, Any]]:
        rows = self.tick(now)
        for key, t in list(self.trackers.items()):
            if t.uri == uri:
                rows.extend(self._rows(t, now, round(now - t.accepted_at, 3), "close", True))
                del self.trackers[key]
        rows.extend(self.watches.close(uri, self.texts.get(uri, ""), now))
        self.texts.pop(uri, None)
        return rows

    def finish(self, now: float) -> list[dict[str, Any]]:
        """At shutdown: a final survival row for every acceptance still tracked, and the
        written-instead rows of the watches still open."""
        rows = self.tick(now)
        for uri in {t.uri for t in self.trackers.values()} | {w.uri for w in
                                                                 self.watches.open.values()}:
            rows.extend(self._close(uri, now))
        return rows


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _path(uri: str) -> str:
    if uri.startswith("file://"):
        from pygls.uris import to_fs_path

        return to_fs_path(uri) or ""
    return ""


def _provenance(prov: dict[str, Any] | None, hasher: Any) -> dict[str, Any] | None:
    """Where a copied suggestion came from, without the path itself (hashed like uris)."""
    if not prov:
        return None
    return {"path_hash": hasher(str(prov.get("path", ""))), "line": prov.get("line"),
            "license": prov.get("license"), "source": prov.get("source"),
            "own": prov.get("own")}
