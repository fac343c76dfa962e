"""LSP lifecycle over raw stdio framing: what a client that breaks the rules gets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


class RawClient:
    def __init__(self, model_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeward.server.cli", "serve", "--model", str(model_dir),
             "--log-level", "WARNING"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(self, payload: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **payload}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while True:
            line = self.proc.stdout.readline()
            assert line, "server closed stdout"
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif line in (b"\r\n", b"\n"):
                break
        return json.loads(self.proc.stdout.read(length))

    def response(self, msg_id: int) -> dict[str, Any]:
        while True:
            msg = self.read()
            if msg.get("id") == msg_id and "method" not in msg:
                return msg


def test_lifecycle_errors_and_exit_codes(tiny_model_dir: Path) -> None:
    c = RawClient(tiny_model_dir)
    try:
        c.send({"id": 1, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0},
            "context": {"triggerKind": 1}}})
        assert c.response(1)["error"]["code"] == -32002
        c.send({"id": 2, "method": "initialize", "params": {"capabilities": {}}})
        assert "capabilities" in c.response(2)["result"]
        c.send({"method": "initialized", "params": {}})
        c.send({"id": 3, "method": "no/suchMethod", "params": {}})
        assert c.response(3)["error"]["code"] == -32601
        c.send({"id": 31, "method": "textDocument/inlineCompletion",
                "params": {"textDocument": {"uri": "file:///x.py"}}})  # no position
        assert c.response(31)["error"]["code"] == -32602
        c.send({"id": 32, "method": "textDocument/completion", "params": "garbage"})
        assert c.response(32)["error"]["code"] == -32602
        c.send({"id": 4, "method": "shutdown"})
        assert c.response(4)["result"] is None
        c.send({"id": 5, "method": "codeward/status", "params": {}})
        assert c.response(5)["error"]["code"] == -32600
        c.send({"method": "exit"})
        assert c.proc.wait(timeout=20) == 0
    finally:
        c.proc.kill()


def test_exit_without_shutdown_is_an_error_code(tiny_model_dir: Path) -> None:
    c = RawClient(tiny_model_dir)
    try:
        c.send({"id": 1, "method": "initialize", "params": {"capabilities": {}}})
        c.response(1)
        c.send({"method": "exit"})
        assert c.proc.wait(timeout=20) == 1
    finally:
        c.proc.kill()


def test_stdout_carries_only_protocol(tiny_model_dir: Path) -> None:
    c = RawClient(tiny_model_dir)
    try:
        c.send({"id": 1, "method": "initialize", "params": {"capabilities": {}}})
        msg = c.response(1)
        assert msg["jsonrpc"] == "2.0"
        c.send({"id": 2, "method": "shutdown"})
        c.response(2)
        c.send({"method": "exit"})
        c.proc.wait(timeout=20)
        assert c.proc.stdout is not None
        rest = c.proc.stdout.read()
        assert rest == b"" or rest.startswith(b"Content-Length")
    finally:
        c.proc.kill()


def test_tcp_refuses_non_loopback_without_opt_in(tiny_model_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "serve", "--tcp",
                           "0.0.0.0:9", "--model", str(tiny_model_dir)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--allow-remote" in proc.stderr
