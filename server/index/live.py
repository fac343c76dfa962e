"""``ProjectIndex``: the live index the server and ``codeward eval`` use.

Parts: immutable suffix-array segments (the workspace at build, the standard library,
packages, merged overlays), each with tombstones for documents that changed since; and
live documents (open documents, files changed on disk since the build, accepted text)
that are updated in place. An edit touches only its live document; a change on disk
tombstones the file's segment copy and puts the new version in the overlay, which is
merged into a new segment in the background once it grows past ``overlay_tokens``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..settings import IndexSettings
from . import abstract as abstract_mod
from . import lookup, persist, sources
from .lexer import Vocabulary, normalize
from .livedoc import LiveDoc
from .model import BuildReport, IndexCandidate, Lookup, SourceDoc
from .segment import Segment

logger = logging.getLogger(__name__)

ABSTRACT_CANDIDATES = 2
"""Renamed copies offered at most (after the verbatim ones)."""


class _Seg:
    def __init__(self, segment: Segment, label: str) -> None:
        self.segment = segment
        self.label = label
        self.dead: set[int] = set()


class ProjectIndex:
    """The project index (see the package docstring for the API)."""

    def __init__(self, settings: IndexSettings | None = None,
                 cache_dir: Path | None = None) -> None:
        self.settings = settings or IndexSettings()
        self.cache_dir = cache_dir
        self.vocab = Vocabulary()
        self._lock = threading.RLock()
        self._segs: list[_Seg] = []
        self._where: dict[str, tuple[_Seg, int]] = {}
        self._open: dict[str, LiveDoc] = {}
        self._overlay: dict[str, LiveDoc] = {}
        self._gone: set[str] = set()
        """Files deleted on disk (a build that read them before stays without them)."""
        self._accepted = LiveDoc(SourceDoc("<accepted>", "", "accepted"), self.vocab,
                                 _scrub)
        self._merging = False
        self._thread: threading.Thread | None = None
        self.reports: list[BuildReport] = []
        self.ready = threading.Event()
        self.error = ""

    # -- segments ---------------------------------------------------------------------
    def add_documents(self, docs: Iterable[SourceDoc], label: str = "documents",
                      cache: bool | None = None) -> BuildReport:
        """Index ``docs`` as one segment (loaded from the cache when the same content was
        indexed before). Replaces an earlier segment with the same ``label``."""
        from . import secretfilter

        start = time.perf_counter()
        docs, over = self._cap([d for d in docs if d.text])
        docs = [SourceDoc(d.path, normalize(d.text), d.source, d.license, d.own)
                for d in docs]
        # keyed by the texts as read and the secret rules: a cached segment was blanked
        # by the same rules, so a hit skips the filter (most of a rebuild's time)
        key = persist.content_key(docs, label, secretfilter.fingerprint())
        use_cache = self.settings.cache if cache is None else cache
        folder = self.cache_dir or persist.cache_root()
        segment = persist.load(folder / f"{key}.npz") if use_cache else None
        cached = segment is not None
        secret_lines = 0
        if segment is None:
            texts, secret_lines = secretfilter.blank_secrets_many([d.text for d in docs])
            docs = [SourceDoc(d.path, t, d.source, d.license, d.own)
                    for d, t in zip(docs, texts, strict=True)]
            segment = Segment.build(docs)
            if use_cache:
                try:
                    persist.save(segment, folder, key)
                except OSError as exc:
                    logger.warning("index: cannot write the cache in %s: %s", folder, exc)
        self._install(_Seg(segment, label))
        report = BuildReport(root=label, files=len(docs), tokens=segment.tokens,
                             skipped={k: v for k, v in (("over-cap", over),
                                                         ("secret-lines", secret_lines)) if v},
                             cached=cached,
                             seconds=time.perf_counter() - start, key=key)
        return report

    def _cap(self, docs: list[SourceDoc]) -> tuple[list[SourceDoc], int]:
        budget = self.settings.max_tokens - self.tokens()
        kept, chars = [], 0
        for d in docs:  # ~4 characters per token: a cheap bound before lexing
            chars += len(d.text)
            if chars / 4 > budget:
                break
            kept.append(d)
        return kept, len(docs) - len(kept)

    def _install(self, seg: _Seg) -> None:
        with self._lock:
            for old in [s for s in self._segs if s.label == seg.label]:
                self._segs.remove(old)
                for path in [p for p, (s, _) in self._where.items() if s is old]:
                    del self._where[path]
            self._segs.append(seg)
            open_paths = {d.meta.path for d in self._open.values()}
            for d, doc in enumerate(seg.segment.docs):
                if doc.source != "workspace":
                    continue
                previous = self._where.get(doc.path)
                if previous is not None:
                    previous[0].dead.add(previous[1])
                self._where[doc.path] = (seg, d)
                if doc.path in open_paths or doc.path in self._overlay or \
                        doc.path in self._gone:
                    seg.dead.add(d)

    def build_workspace(self, root: Path, exclude: list[str]) -> BuildReport:
        """Walk, filter, index (or load from the cache) the workspace, then the optional
        library sources. Blocking."""
        s = self.settings
        start = time.perf_counter()
        report = BuildReport(root=str(root))
        if "workspace" in s.sources:
            walk = sources.walk_workspace(root, exclude, s.max_file_bytes, s.max_files,
                                          sources.project_license(root))
            part = self.add_documents(walk.docs, label=f"workspace:{root}")
            report.files, report.tokens, report.cached, report.key = (
                part.files, part.tokens, part.cached, part.key)
            report.skipped = dict(walk.skipped) | part.skipped
        for name, make in (("stdlib", lambda: sources.stdlib_docs(s.max_file_bytes,
                                                                  s.max_files)),
                           ("packages", lambda: sources.package_docs(
                               s.package_licenses, s.max_file_bytes, s.max_files))):
            if name in s.sources:
                lib = self.add_documents(make().docs, label=name)
                report.tokens += lib.tokens
        report.seconds = time.perf_counter() - start
        self.reports.append(report)
        logger.info("index: %d files, %d tokens in %.1f s (cached: %s)", report.files,
                    report.tokens, report.seconds, report.cached)
        return report

    def start_background(self, root: Path, exclude: list[str]) -> threading.Thread:
        def run() -> None:
            try:
                self.build_workspace(root, exclude)
            except Exception as exc:  # contained: completions go on without the index
                self.error = f"{type(exc).__name__}: {exc}"
                logger.exception("index: building %s failed", root)
            finally:
                self.ready.set()

        self._thread = threading.Thread(target=run, name="codeward-index", daemon=True)
        self._thread.start()
        return self._thread

    # -- live documents ---------------------------------------------------------------
    def open_document(self, key: str, text: str, path: str = "") -> None:
        """An open document, indexed as it is now and after every edit (secret lines
        blanked on every update)."""
        with self._lock:
            self._open[key] = LiveDoc(SourceDoc(path or key, text, "document"), self.vocab,
                                      _scrub)
            where = self._where.get(path) if path else None
            if where is not None:
                where[0].dead.add(where[1])

    def update_document(self, key: str, text: str) -> None:
        with self._lock:
            doc = self._open.get(key)
            if doc is None:
                self.open_document(key, text)
            else:
                doc.update(text)

    def close_document(self, key: str) -> None:
        """The document leaves the live set; its file on disk (if any) is indexed again."""
        with self._lock:
            doc = self._open.pop(key, None)
            if doc is None or not doc.meta.path:
                return
            path = doc.meta.path
        if path in self._where or path in self._overlay:
            self.file_changed(Path(path))

    def file_changed(self, path: Path) -> None:
        """A workspace file changed on disk (or was created)."""
        text = sources.read_source(path) if path.is_file() else None
        key = str(path)
        with self._lock:
            where = self._where.get(key)
            if text is None:
                self.file_deleted(path)
                return
            self._gone.discard(key)
            text = normalize(text)
            if where is not None and where[0].segment.docs[where[1]].text == text and \
                    key not in self._overlay:
                where[0].dead.discard(where[1])  # back to what the segment has
                return
            if where is not None:
                where[0].dead.add(where[1])
            self._overlay[key] = LiveDoc(SourceDoc(key, text, "workspace"), self.vocab, _scrub)
            overlay_tokens = sum(len(d) for d in self._overlay.values())
        if overlay_tokens > self.settings.overlay_tokens:
            self.merge_overlay(background=True)

    def file_deleted(self, path: Path) -> None:
        """A file (or a folder: every indexed file under it) was deleted on disk."""
        key = str(path)
        with self._lock:
            under = key.rstrip("/") + "/"
            keys = {key} | {p for p in (*self._where, *self._overlay) if p.startswith(under)}
            for k in keys:
                where = self._where.pop(k, None)
                if where is not None:
                    where[0].dead.add(where[1])
                self._overlay.pop(k, None)
            self._gone.update(keys)

    def merge_overlay(self, background: bool = False) -> None:
        """Move the overlay's files into a new segment (off the lock while it builds)."""
        with self._lock:
            if self._merging or not self._overlay:
                return
            self._merging = True
            snapshot = dict(self._overlay)

        def run() -> None:
            try:
                docs = [SourceDoc(p, d.text, "workspace") for p, d in snapshot.items()]
                seg = _Seg(Segment.build(docs), f"overlay:{time.monotonic_ns()}")
                with self._lock:
                    self._install(seg)
                    for d, (p, live) in enumerate(snapshot.items()):
                        if self._overlay.get(p) is live:
                            del self._overlay[p]
                            seg.dead.discard(d)
                        else:
                            seg.dead.add(d)
            except Exception:
                logger.exception("index: merging the overlay failed")
            finally:
                self._merging = False

        if background:
            threading.Thread(target=run, name="codeward-index-merge", daemon=True).start()
        else:
            run()

    def add_accepted(self, text: str, context: str = "") -> None:
        """Text the developer accepted (with the last lines before it as ``context``, so
        the same context finds it again)."""
        if "accepted" not in self.settings.sources or not text.strip():
            return
        tail = "\n".join(context.split("\n")[-3:])
        with self._lock:
            self._accepted.append("\n" + tail + text + "\n")

    # -- lookups ------------------------------------------------------------------------
    def _parts(self, key: str, prefix: str, suffix: str) -> list[lookup.Part]:
        parts = [lookup.Part(s.segment, _seg_source(s), frozenset(s.dead)) for s in self._segs]
        open_paths = {d.meta.path for d in self._open.values()}  # they shadow the disk
        parts += [lookup.Part(d, "workspace") for p, d in self._overlay.items()
                  if p not in open_paths]
        if "accepted" in self.settings.sources and len(self._accepted):
            parts.append(lookup.Part(self._accepted, "accepted"))
        if "documents" in self.settings.sources:
            for k, doc in self._open.items():
                if k == key:
                    line_start = prefix.rfind("\n") + 1
                    nl = suffix.find("\n")
                    line_end = len(prefix) + (len(suffix) if nl < 0 else nl)
                    parts.append(lookup.Part(doc, "current", current_line=(line_start,
                                                                          line_end)))
                else:
                    parts.append(lookup.Part(doc, "document"))
        return parts

    def suggest(self, key: str, prefix: str, suffix: str, *, multiline: bool = False,
                max_candidates: int | None = None,
                max_lines: int = 12) -> list[IndexCandidate]:
        return self.suggest_with_lookup(key, prefix, suffix, multiline=multiline,
                                        max_candidates=max_candidates, max_lines=max_lines)[1]

    def suggest_with_lookup(self, key: str, prefix: str, suffix: str, *,
                            multiline: bool = False, max_candidates: int | None = None,
                            max_lines: int = 12) -> tuple[Lookup, list[IndexCandidate]]:
        s = self.settings
        prefix, suffix = normalize(prefix), normalize(suffix)
        query = lookup.make_query(prefix, s.max_match_tokens)  # lexing: outside the lock
        with self._lock:
            parts = self._parts(key, prefix, suffix)
            found, out = lookup.candidates(
                parts, query, prefix, suffix, max_len=s.max_match_tokens,
                max_candidates=max_candidates or s.max_candidates,
                multiline=multiline and s.multiline, max_lines=max_lines,
                min_share=s.min_vote_share)
            if s.abstract:
                out += abstract_mod.candidates(parts, query, prefix, suffix, ABSTRACT_CANDIDATES,
                                           {c.text for c in out})
            return found, out

    def lookup(self, prefix: str, key: str = "", abstract: bool = False) -> Lookup:
        """The longest suffix match of ``prefix`` (its last token counts as typed so far);
        of its shape, identifiers abstracted, when ``abstract``."""
        with self._lock:
            parts = self._parts(key, prefix, "")
            query = lookup.make_query(normalize(prefix), self.settings.max_match_tokens)
            if abstract:
                k, pairs, total = abstract_mod.longest_shape(parts, query.context)
                return Lookup(k, [lookup.Occurrence(p, i) for p, i in pairs], total)
            k, occs, total = lookup.longest_match(parts, query, self.settings.max_match_tokens)
        return Lookup(k, [lookup.Occurrence(o.view.meta.path, o.index) for o in occs], total)

    # -- status -----------------------------------------------------------------------
    def tokens(self) -> int:
        with self._lock:
            live = sum(len(d) for d in (*self._open.values(), *self._overlay.values()))
            return sum(s.segment.tokens for s in self._segs) + live + len(self._accepted)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "ready": self.ready.is_set(), "error": self.error, "tokens": self.tokens(),
                "segments": [{"label": s.label, "documents": len(s.segment.docs),
                              "tokens": s.segment.tokens, "tombstoned": len(s.dead)}
                             for s in self._segs],
                "open_documents": len(self._open), "overlay_files": len(self._overlay),
                "accepted_tokens": len(self._accepted),
                "builds": [asdict(r) for r in self.reports],
            }

    def close(self) -> None:
        with self._lock:
            self._open.clear()
            self._overlay.clear()


def _seg_source(seg: _Seg) -> str:
    if seg.label in ("stdlib", "packages"):
        return "stdlib" if seg.label == "stdlib" else "package"
    return "workspace"


def _scrub(text: str) -> str:
    from .secretfilter import scrub

    return scrub(text)


