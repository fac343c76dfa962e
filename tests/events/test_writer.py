"""Writer thread: never blocks, spills to the journal when the store fails, replays, counts."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from codeward.server.events.journal import Journal
from codeward.server.events.store import open_store
from codeward.server.events.writer import Writer


def rows(n: int) -> list[dict]:
    return [{"type": "show", "event_id": uuid.uuid4().hex, "completion_id": "c", "candidate_index": 0,
             "at": time.time()} for _ in range(n)]


class Flaky:
    """A store factory that fails while ``down`` is set (like a server that went away)."""

    def __init__(self, url: str) -> None:
        self.url, self.down, self.opened = url, True, []

    def __call__(self):
        if self.down:
            raise ConnectionError("store is down")
        store = open_store(self.url)
        self.opened.append(store)
        return store


def test_spills_to_journal_and_replays(store_url, tmp_path, caplog) -> None:
    factory = Flaky(store_url)
    acked: list[str] = []
    journal = Journal(tmp_path / "j.jsonl")
    w = Writer(factory, journal, retry_s=0.1, tick_s=0.05,
               on_ack=lambda rs: acked.extend(r["event_id"] for r in rs)).start()
    sent = rows(300)
    with caplog.at_level(logging.WARNING):
        for r in sent[:200]:
            w.submit(r)
        assert w.flush(10)
    assert journal.pending() and len(acked) == 200
    assert w.counts["spilled"] == 200 and w.counts["store_errors"] >= 1
    assert any("unavailable" in r.message for r in caplog.records)
    factory.down = False
    for r in sent[200:]:
        w.submit(r)
    deadline = time.time() + 10
    while journal.pending() and time.time() < deadline:
        time.sleep(0.05)
    assert w.flush(10)
    w.close()
    assert not journal.pending()
    store = open_store(store_url)
    try:
        assert [r["event_id"] for r in store.iter_events()] == [r["event_id"] for r in sent]
    finally:
        store.close()
    assert sorted(acked) == sorted(r["event_id"] for r in sent)
    assert w.counts["replayed"] >= 200


def test_backpressure_never_blocks_and_never_drops(tmp_path) -> None:
    gate = threading.Event()

    def slow(msg):
        gate.wait(5)
        return [msg]

    w = Writer(lambda: open_store(str(tmp_path / "e.db")), Journal(tmp_path / "j"), handle=slow,
               queue_size=10, overflow=1000, batch_size=4).start()
    sent = rows(500)
    start = time.perf_counter()
    for r in sent:
        w.submit(r)
    took = time.perf_counter() - start
    assert took < 0.5, f"submit blocked for {took:.3f} s"
    assert w.counts["backpressure"] > 400 and w.counts["dropped"] == 0
    gate.set()
    assert w.flush(20)
    w.close()
    store = open_store(str(tmp_path / "e.db"))
    assert [r["event_id"] for r in store.iter_events()] == [r["event_id"] for r in sent]
    store.close()


def test_past_the_overflow_drops_are_counted_and_logged(tmp_path, caplog) -> None:
    gate = threading.Event()
    w = Writer(lambda: open_store(str(tmp_path / "e.db")), Journal(tmp_path / "j"),
               handle=lambda m: (gate.wait(5), [m])[1], queue_size=5, overflow=5,
               batch_size=1).start()
    with caplog.at_level(logging.ERROR):
        results = [w.submit(r) for r in rows(30)]
    assert results.count(False) == w.counts["dropped"] > 0
    assert any("dropped" in r.message for r in caplog.records)
    gate.set()
    w.close()


def test_journal_skips_a_torn_line(tmp_path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    first = rows(2)
    j.append(first)
    with open(j.path, "ab") as fh:
        fh.write(b'{"type": "show", "event_id": "tor')
    second = rows(1)
    j.append(second)
    assert [r["event_id"] for r in j.read()] == [r["event_id"] for r in first + second]
    j.clear()
    assert not j.pending()
