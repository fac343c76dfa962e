"""The writer thread: a bounded queue in front of the store, never blocking the caller.

``submit`` only appends to a queue. The thread turns messages into rows (``handle``), writes
them in batches, and acknowledges each batch (``on_ack``) once it is durable: committed to
the store, or fsync'd to the spill journal when the store fails, times out or is down.
The journal is replayed (idempotently) when the store answers again; while it holds rows,
new rows go to it too, so order is kept.

Back-pressure: past ``queue_size`` messages wait in an in-memory overflow list (counted and
logged); only past ``overflow`` more are messages dropped, and every drop is counted and
logged as an error. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .base import Store
from .config import redact_url
from .journal import Journal

logger = logging.getLogger(__name__)

Rows = list[dict[str, Any]]
_STOP = object()


class _Flush(threading.Event):
    pass


class Writer:
    def __init__(self, open_store: Callable[[], Store], journal: Journal, *,
                 handle: Callable[[Any], Rows] = lambda msg: [msg],
                 tick: Callable[[float], Rows] | None = None,
                 finish: Callable[[float], Rows] | None = None,
                 queue_size: int = 10000, overflow: int = 100000, batch_size: int = 512,
                 retry_s: float = 5.0, tick_s: float = 1.0, slow_s: float = 0.5,
                 retention_days: float = 0.0, purge_every_s: float = 6 * 3600,
                 on_ack: Callable[[Rows], None] | None = None, url: str = "",
                 on_problem: Callable[[str], None] | None = None) -> None:
        self._open_store, self.journal = open_store, journal
        self.handle, self.tick, self.finish = handle, tick, finish
        self.q: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._overflow: deque[Any] = deque()
        self._olock = threading.Lock()
        self.overflow_max, self.batch_size = overflow, batch_size
        self.retry_s, self.tick_s, self.slow_s = retry_s, tick_s, slow_s
        self.retention_days, self.purge_every_s = retention_days, purge_every_s
        self.on_ack, self.url = on_ack, redact_url(url)
        self.on_problem = on_problem
        self.problem = ""
        """What is wrong with saving events now ("" when nothing): for codeward/status."""
        self._told: set[str] = set()
        self.store: Store | None = None
        self.counts: Counter[str] = Counter()
        self._closed = False
        self._next_retry = 0.0
        self._next_tick = 0.0
        self._next_purge = time.time() + 30.0
        self._last_log: dict[str, float] = {}
        self.thread = threading.Thread(target=self._run, name="codeward-events", daemon=True)

    def start(self) -> Writer:
        self.thread.start()
        return self

    # -- caller side (never blocks) ----------------------------------------------------------
    def submit(self, msg: Any) -> bool:
        if self._closed:
            self.counts["late"] += 1
            return False
        self.counts["submitted"] += 1
        if not self._overflow:
            try:
                self.q.put_nowait(msg)
                return True
            except queue.Full:
                pass
        with self._olock:
            if len(self._overflow) < self.overflow_max:
                self._overflow.append(msg)
                self.counts["backpressure"] += 1
                self._log("backpressure", logging.WARNING, "event queue full (%d): %d events "
                          "waiting in memory", self.q.maxsize, len(self._overflow))
                return True
        self.counts["dropped"] += 1
        self._log("dropped", logging.ERROR, "event queue and overflow full: %d events dropped "
                  "so far", self.counts["dropped"])
        return False

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted before this call is durable."""
        if not self.thread.is_alive():
            return False
        marker = _Flush()
        with self._olock:
            if self._overflow:
                self._overflow.append(marker)
            else:
                self.q.put(marker)
        return marker.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        if self.thread.is_alive():
            with self._olock:
                if self._overflow:
                    self._overflow.append(_STOP)
                else:
                    self.q.put(_STOP)
            self.thread.join(timeout)
            if self.thread.is_alive():
                logger.error("event writer did not finish within %.0f s", timeout)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "queued": self.q.qsize(), "overflow": len(self._overflow),
                "journal_pending": self.journal.pending(), "journal_bytes": self.journal.size(),
                "store_up": self.store is not None, "problem": self.problem}

    def _tell(self, key: str, message: str) -> None:
        """Record the problem for the status; tell the user once per kind."""
        self.problem = message
        if key in self._told:
            return
        self._told.add(key)
        logger.error("%s", message)
        if self.on_problem is not None:
            try:
                self.on_problem(message)
            except Exception:
                logger.debug("on_problem failed", exc_info=True)

    # -- writer thread -------------------------------------------------------------------------
    def _take(self) -> list[Any]:
        msgs: list[Any] = []
        while len(msgs) < self.batch_size:
            try:
                msgs.append(self.q.get_nowait())
            except queue.Empty:
                break
        if len(msgs) < self.batch_size and self._overflow:
            with self._olock:
                while self._overflow and len(msgs) < self.batch_size:
                    msgs.append(self._overflow.popleft())
        if not msgs:
            wait = self.tick_s
            if self.tick is not None:
                wait = min(wait, max(0.01, self._next_tick - time.time()))
            try:
                msgs.append(self.q.get(timeout=wait))
            except queue.Empty:
                pass
        return msgs

    def _run(self) -> None:
        self._connect(time.time())
        self._maintain(time.time())
        while True:
            msgs = self._take()
            rows: Rows = []
            markers, stop = [], False
            for msg in msgs:
                if msg is _STOP:
                    stop = True
                elif isinstance(msg, _Flush):
                    markers.append(msg)
                else:
                    rows.extend(self._call(self.handle, msg))
            now = time.time()
            if self.tick is not None and (now >= self._next_tick or stop):
                rows.extend(self._call(self.tick, now))
                self._next_tick = now + self.tick_s
            if stop and self.finish is not None:
                rows.extend(self._call(self.finish, now))
            if rows:
                self._persist(rows, now)
            self._maintain(now)
            for marker in markers:
                marker.set()
            if stop:
                break
        if self.store is not None:
            self.store.close()
            self.store = None

    def _call(self, fn: Callable[[Any], Rows], arg: Any) -> Rows:
        try:
            return fn(arg)
        except Exception:
            self.counts["handler_errors"] += 1
            logger.exception("event handling failed (event skipped)")
            return []

    def _connect(self, now: float) -> None:
        if self.store is not None or now < self._next_retry:
            return
        try:
            self.store = self._open_store()
        except Exception as exc:
            self._failed(exc, now)

    def _failed(self, exc: Exception, now: float) -> None:
        self.counts["store_errors"] += 1
        self._tell("store", f"codeward: the event store {self.url} is unavailable ({exc}); "
                   f"events are kept in the journal {self.journal.path} and replayed later")
        if self.store is not None:
            try:
                self.store.close()
            except Exception:
                logger.debug("closing failed store", exc_info=True)
        self.store = None
        self._next_retry = now + self.retry_s

    def _persist(self, rows: Rows, now: float) -> None:
        self._connect(now)
        if self.store is not None and not self.journal.pending():
            start = time.perf_counter()
            try:
                inserted = self.store.write(rows)
            except Exception as exc:
                self._failed(exc, now)
            else:
                self.problem = ""
                elapsed = time.perf_counter() - start
                if elapsed > self.slow_s:
                    self.counts["slow_writes"] += 1
                    self._log("slow", logging.WARNING, "event store slow: %.0f ms for %d events",
                              elapsed * 1000, len(rows))
                inserted = inserted if isinstance(inserted, int) else len(rows)
                self.counts["written"] += inserted
                self.counts["duplicates"] += len(rows) - inserted
                self._ack(rows)
                return
        try:
            dropped = self.journal.append(rows)
        except OSError as exc:
            self.counts["lost"] += len(rows)
            self._tell("lost", f"codeward: events cannot be saved: the event store is down and "
                       f"the journal {self.journal.path} cannot be written ({exc}); "
                       f"{self.counts['lost']} events lost so far")
            return
        if dropped:
            self.counts["journal_dropped"] += dropped
            self._tell("journal-full", f"codeward: the event journal {self.journal.path} reached "
                       f"its limit; {self.counts['journal_dropped']} oldest events dropped so far")
        self.counts["spilled"] += len(rows)
        self._ack(rows)

    def _ack(self, rows: Rows) -> None:
        if self.on_ack is not None:
            try:
                self.on_ack(rows)
            except Exception:
                logger.exception("on_ack failed")

    def _maintain(self, now: float) -> None:
        if self.journal.pending() and now >= self._next_retry:
            self._connect(now)
            if self.store is not None:
                self._replay(now)
        if self.retention_days > 0 and now >= self._next_purge and self.store is not None:
            self._next_purge = now + self.purge_every_s
            try:
                self.store.purge(self.retention_days, now)
            except Exception:
                logger.exception("retention purge failed")

    def _replay(self, now: float) -> None:
        assert self.store is not None
        chunk: Rows = []
        total = 0
        try:
            for row in self.journal.read():
                chunk.append(row)
                if len(chunk) >= self.batch_size * 4:
                    self.store.write(chunk)
                    total, chunk = total + len(chunk), []
            self.store.write(chunk)
            total += len(chunk)
        except Exception as exc:
            self._failed(exc, now)
            return
        self.journal.clear()
        self.counts["replayed"] += total
        logger.info("replayed %d events from the journal into %s", total, self.url)

    def _log(self, key: str, level: int, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= 10.0:
            self._last_log[key] = now
            logger.log(level, msg, *args)
