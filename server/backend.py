"""The heavy half of a server: engine host, vetting pipeline, event recorder and the
completion service over them. No protocol types here.

One ``Backend`` can serve several protocol connections (``lsp.create_server(backend=...)``):
it is started once, by the first ``initialize``; the model loads in a background thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from codeward.analyzers.contract import Vetter
from codeward.analyzers.failclosed import FailClosedVetter
from codeward.analyzers.pipeline import Pipeline

from . import __version__, models
from .activity import Activity, ObservedRecorder
from .completion import CompletionEvent, CompletionRequest, CompletionResult, CompletionService
from .engine import EngineHost
from .events import NullRecorder, Recorder, open_recorder
from .index import ProjectIndex
from .settings import Settings

if TYPE_CHECKING:
    from .metrics import Metrics

logger = logging.getLogger(__name__)

FIRST_COMPLETION_WAIT_S = 2.0
"""How long the index build waits for the first completion after the model has loaded."""

Level = Literal["error", "warning"]
Show = Callable[[str, Level], None]
"""Tells the user something once (the server shows it as a window message)."""


class Backend:
    def __init__(self, model_override: str | None = None,
                 metrics: Metrics | None = None) -> None:
        self.model_override = model_override
        self.activity = Activity()
        self.metrics = metrics
        self.host: EngineHost | None = None
        self.pipeline: Vetter | None = None
        self.recorder: Recorder = NullRecorder()
        self.service: CompletionService | None = None
        self.loading: Future[None] | None = None
        self.model_error = ""
        self.events_problem = ""
        self.index: ProjectIndex | None = None
        self.root: Path | None = None
        self._index_settings: Settings | None = None
        self._file_jobs: ThreadPoolExecutor | None = None
        self._first_done = threading.Event()
        """Set when the first completion has been answered (the index build waits for it)."""
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self.service is not None

    def start(self, settings: Settings, show: Show, root: Path | None = None) -> None:
        """Build the pipeline, the recorder and the service; load the model in the
        background (the first completion waits for it), then build the project index of
        ``root`` (completions use whatever part of it is ready). A second call does
        nothing."""
        with self._lock:
            if self.started:
                return
            self.host = EngineHost(settings.engine)
            try:
                self.pipeline = Pipeline.from_settings(settings.analyzers, settings.vetting)
            except Exception as exc:
                logger.exception("vetting pipeline failed to start; every suggestion is withheld")
                show(f"codeward: vetting unavailable ({exc}); suggestions are withheld", "error")
                self.pipeline = FailClosedVetter(str(exc))
            try:
                self.recorder = open_recorder(settings, lambda msg: show(msg, "warning"))
            except Exception as exc:
                logger.exception("event store unavailable; events are not recorded")
                self.events_problem = f"codeward: event store unavailable: {exc}"
                show(self.events_problem, "error")
            self.recorder = ObservedRecorder(self.recorder, self._feedback)
            self.loading = Future()
            self.service = CompletionService(
                self.host, self.pipeline, on_result=self._record, on_finish=self._finished,
                max_workers=settings.engine.inter_threads, max_queue=settings.engine.max_queue,
                loading=self.loading,
            )
            self._start_policy(settings)
            if settings.index.enabled:
                self.index = ProjectIndex(settings.index)
                self.service.index = self.index
                self.root = root
                self._index_settings = settings
        threading.Thread(target=self._load_model, args=(settings, show), daemon=True,
                         name="codeward-load").start()
        if self.metrics is not None:
            self._watch_metrics(settings)

    def _start_policy(self, settings: Settings) -> None:
        """The registry's promoted show/rank policy, and a watcher that hot-swaps a newly
        promoted one (a plain attribute replace: a request in flight keeps the one it read)."""
        from . import showpolicy
        from .events.config import parse
        from .events.ids import Hasher

        service = self.service
        assert service is not None
        registry = settings.model.registry or None
        service.policy = showpolicy.current_policy(registry)
        cfg, _ = parse(settings.events or {})
        service.project_of = Hasher.from_settings(cfg).repo

        def install(policy: showpolicy.Policy | None) -> None:
            service.policy = policy

        if settings.model.watch_interval > 0:
            showpolicy.watch_policy(install, registry, settings.model.watch_interval)

    def _watch_metrics(self, settings: Settings) -> None:
        from .events.config import parse

        assert self.metrics is not None
        self.metrics.watch(self.metrics_status)
        cfg, _ = parse(settings.events or {})
        if cfg.enabled:
            self.metrics.watch_drift(cfg.store_url(), list(cfg.checkpoints))

    def _record(self, req: CompletionRequest, result: CompletionResult) -> None:
        self.recorder.completion(CompletionEvent(req, result))

    def _finished(self, req: CompletionRequest, result: CompletionResult) -> None:
        self._first_done.set()
        self.activity.finished(req, result)
        if self.metrics is not None:
            self.metrics.finished(req, result)

    def _feedback(self, kind: str, params: dict[str, Any]) -> None:
        self.activity.feedback(kind, params)
        if self.metrics is not None:
            self.metrics.feedback(kind, params)

    def _load_model(self, settings: Settings, show: Show) -> None:
        assert self.host is not None and self.loading is not None
        try:
            model_dir = models.resolve_model_dir(self.model_override or settings.model.path,
                                                 settings.model.registry)
            if settings.engine.backend == "openai":
                from .remote import start_remote

                start_remote(self.host, model_dir, settings.engine,
                             lambda message: show(message, "warning"))
            else:
                self.host.load(model_dir)
            models.start_watch(self, settings)
        except Exception as exc:
            self.model_error = str(exc)
            logger.error("no model: %s", exc)
            show(f"codeward: no model can be served: {exc}", "error")
        finally:
            self.loading.set_result(None)
        # after the model and the first completion (or a short wait for one): a build holds
        # the GIL most of its time, and the first completion should not queue behind it
        if self.index is not None:
            from .index import secretfilter

            self._first_done.wait(FIRST_COMPLETION_WAIT_S)
            secretfilter.warm()
            if self.root is not None and "workspace" in settings.index.sources:
                self.index.start_background(self.root, settings.context.exclude)

    # -- the project index: documents as they are now, accepted text --------------------
    def document_opened(self, uri: str, path: str, text: str) -> None:
        if self.index is not None:
            self.index.open_document(uri, text, path)

    def document_changed(self, uri: str, text: str) -> None:
        if self.index is not None:
            self.index.update_document(uri, text)

    def document_closed(self, uri: str) -> None:
        if self.index is not None:
            self.index.close_document(uri)

    def files_changed(self, changes: list[tuple[str, bool]]) -> None:
        """Files created or changed (``False``) or deleted (``True``) on disk, outside the
        editor: the index follows them, in one worker thread and in order (a checkout may
        change thousands of files; the event loop does not wait for them)."""
        if self.index is None or self.root is None or not changes:
            return
        with self._lock:
            if self._file_jobs is None:
                self._file_jobs = ThreadPoolExecutor(1, thread_name_prefix="codeward-files")
            jobs = self._file_jobs
        jobs.submit(self._apply_file_changes, changes)

    def _apply_file_changes(self, changes: list[tuple[str, bool]]) -> None:
        from .index import sources

        assert self.index is not None and self.root is not None
        settings = self._index_settings or Settings()
        if "workspace" not in settings.index.sources:
            return
        for path_str, deleted in changes:
            path = Path(path_str)
            try:
                why = "deleted" if deleted else sources.skip_reason(
                    self.root, path, settings.context.exclude, settings.index.max_file_bytes)
                if why in ("", "missing"):
                    self.index.file_changed(path)  # a missing file is a deletion
                elif why != "outside":
                    self.index.file_deleted(path)  # gone, or no longer indexable
            except Exception:  # contained per file: the others still go in
                logger.exception("index: cannot update %s", path)

    def accepted(self, completion_id: str, index: int, length: int | None = None) -> None:
        """An accepted suggestion goes into the index (as far as it was accepted)."""
        if self.index is None or self.service is None:
            return
        entry = self.service.recent.get(str(completion_id))
        if entry is None:
            return
        result = entry[1]
        for cand in result.candidates:
            if cand.index == index:
                text = cand.text if length is None else cand.text[:max(0, length)]
                self.index.add_accepted(text, result.accept_context)

    @property
    def completions(self) -> CompletionService:
        if self.service is None:
            raise RuntimeError("the backend has not been started (no initialize yet)")
        return self.service

    def prepare(self, path: str | None, language: str) -> None:
        if self.pipeline is not None:
            self.pipeline.prepare(path, language)

    def forget(self, uri: str, session: str = "") -> None:
        if self.service is not None:
            self.service.forget(uri, session)

    def status(self) -> dict[str, Any]:
        """``codeward/status``: model, engine counters, analyzer states, event counters."""
        engine = self.host.engine if self.host else None
        return {
            "version": __version__,
            "model": engine.manifest.name if engine else None,
            "model_version": engine.manifest.version if engine else None,
            "model_dir": str(engine.model_dir) if engine else None,
            "model_error": self.model_error or (self.host.error if self.host else ""),
            "loading": bool(self.loading and not self.loading.done()),
            "engine": engine.stats.as_dict() if engine else {},
            "remote": self.host.remote.status() if self.host and self.host.remote else None,
            "analyzers": self.pipeline.status() if self.pipeline else {},
            "busy_rejections": self.service.busy_rejections if self.service else 0,
            "policy_version": self.service.policy.version if self.service
            and self.service.policy else None,
            "events": {**self.recorder.stats(),
                       **({"problem": self.events_problem} if self.events_problem else {})},
            "activity": self.activity.summary(),
            "metrics_url": self.metrics.url if self.metrics is not None else None,
            "index": self.index.status() if self.index is not None else {"enabled": False},
        }

    def metrics_status(self) -> dict[str, Any]:
        """What the metrics' gauges read at each scrape."""
        return {**self.status(), "queue_depth": self.service.pending if self.service else 0,
                "drift": self.metrics.drift_results() if self.metrics is not None else []}

    def finish_loading(self, timeout: float = 60.0) -> None:
        """Let a model load in progress end before the process exits: an interpreter that
        shuts down while the loader thread is inside CTranslate2 aborts (SIGABRT)."""
        if self.loading is not None:
            try:
                self.loading.result(timeout)
            except Exception:  # timed out: exit anyway
                logger.warning("exiting while the model is still loading")

    def close(self) -> None:
        if self._file_jobs is not None:
            self._file_jobs.shutdown(wait=False, cancel_futures=True)
        if self.service is not None:
            self.service.close()
        if self.index is not None:
            self.index.close()
        self.recorder.close()
        if self.pipeline is not None:
            self.pipeline.close()
