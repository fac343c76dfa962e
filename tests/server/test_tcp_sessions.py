"""``codeward serve --tcp`` with several clients: each connection is its own session.

Before: every answer went to the client that connected last, one disconnect stopped the
server for all, and each initialize rebuilt the shared backend with its own settings.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from raw_client import RawClient, texts

DOCS = [("def add(a, b):\n    \n", (1, 4), ["return a + b"]),
        ("names = ['a', 'b']\nfor name in ", (1, 12), ["names:"])]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tcp_server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "codeward.server.cli", "serve", "--tcp",
                             f"127.0.0.1:{port}", "--model", str(tiny_model_dir),
                             "--log-level", "WARNING"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        RawClient.tcp("127.0.0.1", port, timeout=60).shutdown()  # wait until it listens
        yield port
        assert proc.poll() is None, "the server stopped"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def client_run(port: int, n: int, rounds: int, results: dict[int, object]) -> None:
    """One client: its own document and settings; every answer must be for its own
    request and document (checked through codeward/explain, which is per session)."""
    try:
        c = RawClient.tcp("127.0.0.1", port)
        disabled = n == 7
        c.initialize({"completion": {"enabled": not disabled}})
        text, (line, col), expected = DOCS[n % 2]
        uri = f"file:///tcp/client{n}.py"
        c.open(uri, text)
        ids = []
        for _ in range(rounds):
            answer = c.inline(uri, line, col, timeout=120)
            got = texts(answer)
            if disabled:
                assert got == [], f"client {n}: settings of another session: {got}"
                continue
            assert got == expected, f"client {n}: got {got}, expected {expected}"
            cid = answer["result"]["items"][0]["command"]["arguments"][0]["id"]
            explained = c.request("codeward/explain", {"id": cid})["result"]
            assert explained["found"] and explained["uri"] == uri, (n, explained)
            ids.append(cid)
        results[n] = ids
        if n == 3:
            c._close()  # vanish without shutdown: the others must go on
            return
        c.shutdown()
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        results[n] = exc


def test_eight_concurrent_clients_are_isolated_sessions(tcp_server: int) -> None:
    results: dict[int, object] = {}
    threads = [threading.Thread(target=client_run, args=(tcp_server, n, 6, results))
               for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    failures = {n: r for n, r in results.items() if isinstance(r, BaseException)}
    assert not failures, failures
    assert len(results) == 8
    # another session cannot see a client's completions
    probe = RawClient.tcp("127.0.0.1", tcp_server)
    try:
        probe.initialize()
        some_id = results[0][0]  # type: ignore[index]
        assert probe.request("codeward/explain", {"id": some_id})["result"]["found"] is False
        assert probe.request("codeward/explain", {})["result"]["found"] is False
        # the server still serves after disconnects, shutdowns and exits
        probe.open("file:///tcp/probe.py", DOCS[0][0])
        assert texts(probe.inline("file:///tcp/probe.py", 1, 4)) == DOCS[0][2]
    finally:
        probe.shutdown()


def test_exit_ends_only_that_session(tcp_server: int) -> None:
    a = RawClient.tcp("127.0.0.1", tcp_server)
    b = RawClient.tcp("127.0.0.1", tcp_server)
    a.initialize()
    b.initialize()
    b.open("file:///tcp/b.py", DOCS[0][0])
    a.request("shutdown", None)
    a.notify("exit", None)
    a.drain(1.0)
    assert a.closed
    assert texts(b.inline("file:///tcp/b.py", 1, 4)) == DOCS[0][2]
    b.shutdown()
