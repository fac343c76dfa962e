"""``codeward serve`` as a person sees it: what it says in a terminal, the first Ctrl-C,
--tcp messages, and an event store problem told once in the editor."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lsp_client import start_server

CMD = [sys.executable, "-m", "codeward.server.cli", "serve", "--log-level", "WARNING"]


def _read(fd: int, seconds: float, until: bytes = b"") -> bytes:
    out, end = b"", time.time() + seconds
    while time.time() < end and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_serve_in_a_terminal_explains_itself_and_stops_on_first_ctrl_c(
        tiny_model_dir: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: codeward serve on a terminal
        os.execv(sys.executable, [*CMD, "--model", str(tiny_model_dir)])
    out = _read(fd, 30, until=b"Ctrl-C stops")
    assert b"Language Server Protocol on stdin/stdout" in out, out
    assert b"codeward complete FILE:LINE:COL" in out
    os.write(fd, b"\x03")  # Ctrl-C, through the terminal
    out += _read(fd, 15)
    for _ in range(150):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError(f"still running after the first Ctrl-C: {out!r}")
    assert os.waitstatus_to_exitcode(status) == 130
    assert b"Traceback" not in out and b"Fatal Python error" not in out, out


def test_tcp_refuses_bad_and_busy_ports_in_one_line() -> None:
    bad = subprocess.run([*CMD, "--tcp", "localhost:99999"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "port from 1 to 65535" in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*CMD, "--tcp", f"127.0.0.1:{port}"], capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "already in use" in proc.stderr


def test_tcp_says_where_it_listens(tiny_model_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*CMD, "--tcp", f"127.0.0.1:{port}", "--model", str(tiny_model_dir)],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"listening for LSP clients on 127.0.0.1:{port}" in line, line
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130


async def test_event_store_problem_is_told_once_in_the_editor(tiny_model_dir: Path,
                                                              tmp_path: Path) -> None:
    typo = tmp_path / "evnets" / "events.db"
    client = await start_server(tiny_model_dir, init_options={
        "events": {"store": {"url": f"sqlite:///{typo}", "retry_s": 0.2}}},
        env={"XDG_DATA_HOME": str(tmp_path / "data")})
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not client.messages:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # retries happen: still told only once
        told = [m.message for m in client.messages if "event store" in m.message]
        assert len(told) == 1, told
        assert "does not exist" in told[0] and "events.store.url" in told[0]
    finally:
        await client.shutdown_session()
    assert not typo.parent.exists()
