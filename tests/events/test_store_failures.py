"""Event-store failures (read-only or missing directory, full disk, corrupt SQLite): the
user is told once, the spill journal is bounded, and an event is never counted as written
when it was not."""

from __future__ import annotations

import json
from pathlib import Path

from codeward.server.events.journal import Journal, JournalFull
from codeward.server.events.store import open_store
from codeward.server.events.writer import Writer


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"event_id": f"e{i}", "type": "completion", "text": "x" * 100}
            for i in range(start, start + n)]


def test_the_journal_drops_its_oldest_rows_at_its_limit(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", max_bytes=5000)
    dropped = sum(journal.append(_rows(5, 5 * k)) for k in range(20))
    assert journal.size() <= 5000 and dropped > 0
    ids = [row["event_id"] for row in journal.read()]
    assert ids[-1] == "e99" and len(ids) == 100 - dropped  # the newest are kept, in order


def test_a_full_journal_in_stop_mode_refuses(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", max_bytes=2000, when_full="stop")
    journal.append(_rows(5))
    try:
        journal.append(_rows(20, 5))
    except JournalFull:
        pass
    else:
        raise AssertionError("a full journal accepted rows in stop mode")
    assert len(list(journal.read())) == 5


def _writer(tmp_path: Path, store_url: str, journal: Journal, told: list[str]) -> Writer:
    return Writer(lambda: open_store(store_url), journal, retry_s=60.0, tick_s=0.05,
                  on_problem=told.append, url=store_url).start()


def test_an_unwritable_store_and_journal_lose_events_and_say_so_once(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    told: list[str] = []
    journal = Journal(tmp_path / "j.jsonl")
    journal.path = blocker / "j.jsonl"  # the journal cannot be written either
    w = _writer(tmp_path, f"sqlite:///{blocker}/events.db", journal, told)
    for k in range(3):
        for row in _rows(2, 2 * k):
            w.submit(row)
        w.flush(10)
    stats = w.stats()
    w.close()
    assert stats.get("written", 0) == 0 and stats["lost"] == 6
    assert stats["problem"] and "lost" in stats["problem"]
    assert sum("lost" in m for m in told) == 1  # told once, not per batch
    assert any("unavailable" in m for m in told)


def test_a_corrupt_sqlite_file_spills_to_the_journal_and_tells_once(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    db.write_bytes(b"this is not a database" * 100)
    told: list[str] = []
    journal = Journal(tmp_path / "j.jsonl")
    w = _writer(tmp_path, f"sqlite:///{db}", journal, told)
    for row in _rows(4):
        w.submit(row)
    w.flush(10)
    stats = w.stats()
    w.close()
    assert stats.get("written", 0) == 0 and stats["spilled"] == 4
    assert len(told) == 1 and "journal" in told[0] and stats["problem"]
    assert [r["event_id"] for r in journal.read()] == ["e0", "e1", "e2", "e3"]


def test_the_lsp_client_is_told_once_and_status_shows_it(tiny_model_dir: Path,
                                                         tmp_path: Path) -> None:
    from raw_client import RawClient

    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    c = RawClient.stdio(tiny_model_dir)
    try:
        c.initialize({"events": {"store": {"url": f"sqlite:///{blocker}/events.db",
                                           "journal": str(blocker / "j.jsonl")}}})
        c.open("file:///ev/a.py", "def add(a, b):\n    \n")
        for _ in range(3):
            c.inline("file:///ev/a.py", 1, 4)
            c.notify("codeward/didShowCompletion", {"id": "x", "index": 0})
        status = c.request("codeward/status", {})["result"]
        c.drain(2.0)
        shown = [n["params"]["message"] for n in c.notifications
                 if n["method"] == "window/showMessage"]
        status = c.request("codeward/status", {})["result"]
    finally:
        c.shutdown()
    event_messages = [m for m in shown if "event" in m]
    assert event_messages and len(event_messages) == len(set(event_messages)), shown
    assert status["events"].get("written", 0) == 0
    assert status["events"]["problem"] or "unavailable" in json.dumps(status["events"])
