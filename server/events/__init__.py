"""Completion events and feedback: what was suggested, shown, accepted, dismissed and kept.

The server calls a :class:`Recorder`; every call only queues a message (never blocks a
completion). The writer thread (``writer``) redacts and builds rows (``processor``) and
writes them to the store (``store``: SQLite or PostgreSQL), spilling to a local journal when
the store is slow or down. ``codeward events ...`` (``cli``) exports, deletes and summarises.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from codeward.server.completion import CompletionEvent
    from codeward.server.settings import Settings

logger = logging.getLogger(__name__)


class Recorder(Protocol):
    def completion(self, event: CompletionEvent) -> None: ...
    def feedback(self, kind: str, params: dict[str, Any]) -> None: ...
    def document_changed(self, uri: str, text: str) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class NullRecorder:
    """Used when event logging is off: records nothing."""

    def completion(self, event: CompletionEvent) -> None:
        pass

    def feedback(self, kind: str, params: dict[str, Any]) -> None:
        pass

    def document_changed(self, uri: str, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def stats(self) -> dict[str, Any]:
        return {"enabled": False}


class EventRecorder:
    """Queues server events for the writer thread; see ``processor`` for the feedback params."""

    def __init__(self, cfg: Any, exclude: list[str] | None = None,
                 on_ack: Callable[[list[dict[str, Any]]], None] | None = None,
                 on_problem: Callable[[str], None] | None = None) -> None:
        from .config import data_dir
        from .ids import Hasher
        from .journal import Journal
        from .processor import Processor
        from .store import open_store, url_problem
        from .writer import Writer

        self.cfg = cfg
        self.processor = Processor(cfg, Hasher.from_settings(cfg), exclude)
        url = cfg.store_url()
        # a mistyped SQLite folder must not be created for the journal either
        journal = data_dir() / "journal-bad-store-url.jsonl" if url_problem(url) \
            else cfg.journal_path()
        self.writer = Writer(
            lambda: open_store(url, timeout_s=cfg.store.timeout_s),
            Journal(journal, int(cfg.store.journal_max_mb * 1024 * 1024),
                    cfg.store.journal_when_full),
            handle=self.processor.handle, tick=self.processor.tick,
            finish=self.processor.finish, queue_size=cfg.queue_size, overflow=cfg.overflow,
            batch_size=cfg.batch_size, retry_s=cfg.store.retry_s, tick_s=cfg.tick_s,
            retention_days=cfg.retention_days, on_ack=on_ack, url=url, on_problem=on_problem,
        )
        self.writer.submit(("warm",))  # import detect-secrets off the completion path
        self.writer.start()
        atexit.register(self.close)

    def completion(self, event: CompletionEvent) -> None:
        self.writer.submit(("completion", event, time.time()))

    def feedback(self, kind: str, params: dict[str, Any]) -> None:
        self.writer.submit(("feedback", kind, dict(params or {}), time.time()))

    def document_changed(self, uri: str, text: str) -> None:
        self.writer.submit(("change", uri, text, time.time()))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far is durable (store or journal)."""
        return self.writer.flush(timeout)

    def stats(self) -> dict[str, Any]:
        return {"enabled": True, **self.writer.stats(), **dict(self.processor.counts)}

    def close(self) -> None:
        """Final survival rows, flush, close the store."""
        self.writer.close()
        atexit.unregister(self.close)


def open_recorder(settings: Settings, on_problem: Callable[[str], None] | None = None,
                  ) -> Recorder:
    """The recorder for the server's settings (``settings.events``; see ``config``).
    ``on_problem`` is told about bad settings and an unreachable store (once each)."""
    from .config import parse

    cfg, errors = parse(settings.events)
    for message in errors:
        logger.warning("codeward settings: %s", message)
        if on_problem is not None:
            on_problem(f"codeward settings: {message}")
    if not cfg.enabled:
        logger.info("event logging is off (events.enabled = false)")
        return NullRecorder()
    return EventRecorder(cfg, exclude=list(settings.context.exclude), on_problem=on_problem)
