"""The recent-completions cache keeps results only (never a copy of the document per
completion) and is bounded by bytes: memory stays flat over 1,000 completions on a 200 KB
file (it grew by about 200 MB before)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from codeward.server.completion import (
    RECENT_MAX_BYTES,
    Candidate,
    CompletionRequest,
    CompletionResult,
    CompletionService,
)
from codeward.server.settings import Settings

from raw_client import RawClient, texts

BIG = "".join(f"def function_{i}(a, b):\n    return a * {i} + b\n\n" for i in range(6000))


class _Host:
    engine = None


def test_recent_results_hold_no_document_text() -> None:
    service = CompletionService(_Host(), None)  # type: ignore[arg-type]
    settings = Settings()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            text = BIG + f"# edit {i}\n"  # a new document text each keystroke, as the server has
            req = CompletionRequest(uri="file:///big.py", path="/big.py", language="python",
                                    version=i, text=text, offset=len(text), settings=settings)
            result = CompletionResult(id=f"id{i}", uri=req.uri, version=i,
                                      candidates=[Candidate(index=0, text="return a + b",
                                                            raw="return a + b\n")])
            service.remember(req, result)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        service.close()
    assert len(BIG) > 200_000
    assert grown < 10 * 1024 * 1024, f"{grown / 1e6:.0f} MB kept for 1,000 completions"
    assert len(service.recent) == 500 and service._recent_bytes <= RECENT_MAX_BYTES


def test_recent_is_bounded_by_bytes() -> None:
    service = CompletionService(_Host(), None)  # type: ignore[arg-type]
    req = CompletionRequest(uri="u", path="", language="python", version=0, text="",
                            offset=0, settings=Settings())
    huge = "x" * 200_000
    for i in range(100):
        service.remember(req, CompletionResult(id=f"h{i}", uri="u", version=0, candidates=[
            Candidate(index=0, text=huge, raw=huge)]))
    service.close()
    assert service._recent_bytes <= RECENT_MAX_BYTES and len(service.recent) < 100


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.slow
def test_server_rss_is_flat_over_1000_completions_on_a_200_kb_file(
        tiny_model_dir: Path) -> None:
    c = RawClient.stdio(tiny_model_dir)
    try:
        c.initialize()
        uri = "file:///big/big.py"
        text = BIG + "def add(a, b):\n    \n"
        line = text.count("\n") - 1
        c.open(uri, text)
        samples = []
        for i in range(1000):
            c.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": i + 2},
                "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 0}},
                                    "text": " " if i % 2 == 0 else ""}]})
            texts(c.inline(uri, line, 4, timeout=60))
            if i in (100, 999):
                samples.append(_rss_mb(c.proc.pid))  # type: ignore[attr-defined]
    finally:
        c.shutdown()
    print(f"server RSS after 100 completions {samples[0]:.0f} MB, after 1,000 {samples[1]:.0f} MB")
    assert samples[1] - samples[0] < 30, samples
