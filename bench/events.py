"""Event capture benchmark: sustained events/s per store backend, and the latency the
recorder adds to a completion (the time ``recorder.completion`` takes; p50/p99).

    python bench/events.py [--events 50000] [--pg-url postgresql://...]

PostgreSQL: ``--pg-url`` / ``$CODEWARD_TEST_PG_URL``, else a throwaway cluster from the
Debian binaries (skipped when none is installed). Targets: >= 5,000 events/s on SQLite,
<= 1 ms added to completion p99.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "events"))

from codeward.server.completion import (  # noqa: E402
    Candidate,
    CompletionEvent,
    CompletionRequest,
    CompletionResult,
)
from codeward.server.events import EventRecorder  # noqa: E402
from codeward.server.events.config import parse  # noqa: E402
from codeward.server.events.journal import Journal  # noqa: E402
from codeward.server.events.store import open_store  # noqa: E402
from codeward.server.events.writer import Writer  # noqa: E402
from codeward.server.settings import Settings  # noqa: E402

DOC = Path(__file__).resolve().parents[1].joinpath("server", "completion.py").read_text()


def feedback_rows(n: int) -> list[dict]:
    now = time.time()
    return [{"type": "accept", "event_id": uuid.uuid4().hex, "completion_id": uuid.uuid4().hex,
             "candidate_index": 0, "at": now, "language": "python", "model_version": "tiny@1",
             "uri_hash": "u", "repo_hash": "r", "user_hash": "h", "accepted_length": 12,
             "partial": False, "shown_ms": 350.0, "suggestion_length": 12} for _ in range(n)]


def store_throughput(url: str, n: int, tmp: Path) -> float:
    """Events/s through the writer thread into the store (durable commits)."""
    rows = feedback_rows(n)
    w = Writer(lambda: open_store(url), Journal(tmp / f"j-{uuid.uuid4().hex}")).start()
    w.flush(60)
    start = time.perf_counter()
    for r in rows:
        w.submit(r)
    w.flush(600)
    elapsed = time.perf_counter() - start
    w.close()
    assert w.counts["written"] == n, w.stats()
    return n / elapsed


def completion_record(settings: Settings, i: int) -> dict:
    offset = len(DOC) // 2 + (i % 500)
    req = CompletionRequest(uri="file:///bench/mod.py", path="/bench/mod.py", language="python",
                            version=i, text=DOC, offset=offset, settings=settings)
    res = CompletionResult(id=uuid.uuid4().hex, uri=req.uri, version=i, model="tiny@1",
                           latency_ms=120.0, candidates=[Candidate(0, "return self.value\n")])
    return CompletionEvent(req, res)


def recorder_bench(url: str, tmp: Path, completions: int) -> dict[str, float]:
    """Completions at ~100/s with feedback and edits in between, through the real recorder
    (redaction included): the caller-side cost of ``completion()``, and the processing rate."""
    settings = Settings(events={"store": {"url": url}})
    cfg, _ = parse(settings.events)
    cfg.store.journal = str(tmp / f"j-{uuid.uuid4().hex}")
    rec = EventRecorder(cfg)
    rec.flush(60)
    records = [completion_record(settings, i) for i in range(completions)]
    calls = []
    start = time.perf_counter()
    for i, record in enumerate(records):
        t = time.perf_counter()
        rec.completion(record)
        calls.append((time.perf_counter() - t) * 1000)
        cid = record.result.id
        rec.feedback("show", {"id": cid, "index": 0})
        rec.feedback("accept" if i % 3 == 0 else "dismiss", {"id": cid, "index": 0})
        rec.document_changed("file:///bench/mod.py", DOC)
        time.sleep(0.01)
    rec.flush(600)
    elapsed = time.perf_counter() - start
    rec.close()
    calls.sort()
    return {"p50_ms": statistics.median(calls), "p99_ms": calls[int(0.99 * len(calls))],
            "max_ms": calls[-1], "completions_per_s": completions / elapsed}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--completions", type=int, default=500)
    ap.add_argument("--pg-url", default=os.environ.get("CODEWARD_TEST_PG_URL"))
    args = ap.parse_args()
    os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="codeward-bench-"))
    tmp = Path(tempfile.mkdtemp(prefix="codeward-bench-"))
    backends = {"sqlite": f"sqlite:///{tmp / 'events.db'}"}
    cluster = None
    if args.pg_url:
        backends["postgresql"] = args.pg_url
    else:
        from pgcluster import Cluster, find_bindir

        bindir = find_bindir()
        if bindir is not None:
            cluster = Cluster(bindir).start()
            backends["postgresql"] = cluster.new_database()
        else:
            print("postgresql: skipped (no PostgreSQL installed, no --pg-url)")
    try:
        for name, url in backends.items():
            rate = store_throughput(url, args.events, tmp)
            print(f"{name:10s} sustained store writes: {rate:,.0f} events/s "
                  f"({args.events} events, durable commits)")
        for name, url in backends.items():
            r = recorder_bench(url, tmp, args.completions)
            print(f"{name:10s} added latency per completion: p50 {r['p50_ms']:.3f} ms, "
                  f"p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms "
                  f"(redaction + store keep up at {r['completions_per_s']:.0f} completions/s "
                  f"with 3 more events each)")
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
