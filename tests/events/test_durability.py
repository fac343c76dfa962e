"""SIGKILL durability: a writer process under load is killed at random points, >= 200 times.

Every event acknowledged (committed to the store, or fsync'd to the journal while the store
is "down") before the kill must be present afterwards, and ``PRAGMA integrity_check`` must
say ok. The child is forked (no interpreter start-up per round) and reports acknowledged
event ids through a pipe; the parent kills it after a random delay (0 to 80 ms).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time

from codeward.server.events.journal import Journal
from codeward.server.events.store import open_store
from codeward.server.events.writer import Writer

ROUNDS = 200


def _child(db: str, journal: str, round_no: int, store_down: bool, ack_fd: int) -> None:
    def factory():
        if store_down:
            raise ConnectionError("store down for this round")
        return open_store(db)

    def ack(rows):
        os.write(ack_fd, "".join(r["event_id"] + "\n" for r in rows).encode())

    w = Writer(factory, Journal(journal), batch_size=256, retry_s=3600, on_ack=ack).start()
    n = 0
    while True:  # under load until killed
        for _ in range(64):
            w.submit({"type": "show", "event_id": f"r{round_no:04d}-{n:07d}",
                      "completion_id": f"c{n}", "candidate_index": 0, "at": time.time()})
            n += 1
        time.sleep(0.001)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_sigkill_at_random_points_loses_no_acknowledged_event(tmp_path) -> None:
    db, journal = str(tmp_path / "events.db"), str(tmp_path / "events.db.journal")
    rng = random.Random(1234)
    acked_total = journaled_rounds = 0
    all_acked: set[str] = set()
    start = time.perf_counter()
    for round_no in range(ROUNDS):
        store_down = rng.random() < 0.15
        journaled_rounds += store_down
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(r)
                _child(db, journal, round_no, store_down, w)
            finally:
                os._exit(1)
        os.close(w)
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        acked = set(_read_all(r).decode().split())
        os.close(r)
        all_acked |= acked
        acked_total += len(acked)
        # Everything acknowledged this round is in the store or the journal.
        conn = sqlite3.connect(db) if os.path.exists(db) else None
        stored = set()
        if conn is not None:
            try:
                stored = {x for (x,) in conn.execute(
                    "SELECT event_id FROM events WHERE event_id >= ? AND event_id < ?",
                    (f"r{round_no:04d}-", f"r{round_no:04d}.")).fetchall()}
            except sqlite3.OperationalError:  # killed before the schema existed
                stored = set()
            if round_no % 20 == 0:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
        journaled = {row["event_id"] for row in Journal(journal).read()}
        missing = acked - stored - journaled
        assert not missing, f"round {round_no}: {len(missing)} acknowledged events lost"
    # A last, healthy writer replays the journal: every acknowledged event is in the store.
    final = Writer(lambda: open_store(db), Journal(journal)).start()
    assert final.flush(60)
    final.close()
    store = open_store(db)
    try:
        stored_all = {row["event_id"] for row in store.iter_events(batch=20000)}
        integrity = store.integrity_check()
    finally:
        store.close()
    elapsed = time.perf_counter() - start
    print(f"\nSIGKILL durability: {ROUNDS} kills ({journaled_rounds} with the store down), "
          f"{acked_total} events acknowledged, {len(stored_all)} stored, "
          f"{len(all_acked - stored_all)} lost, integrity_check={integrity}, {elapsed:.1f} s")
    assert all_acked <= stored_all
    assert integrity == "ok"
    assert not Journal(journal).pending()
    assert acked_total > ROUNDS * 10  # the writer really was under load
