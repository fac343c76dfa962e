"""A raw LSP client over stdio or TCP: bytes in, parsed frames out, with timeouts.

Unlike pytest-lsp it can send anything (broken frames, invalid JSON, wrong types), which
is what the lifecycle tests, the protocol fuzzer and ``bench/load.py`` need.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 30.0


def frame(payload: dict[str, Any] | list[Any] | str | bytes) -> bytes:
    if isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = payload.encode("utf-8", "surrogatepass")
    else:
        body = json.dumps(payload).encode("utf-8", "surrogatepass")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class FrameReader:
    """Parses ``Content-Length`` frames from a byte stream in a thread."""

    def __init__(self, read: Any) -> None:
        self._read = read
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True, name="raw-reader")
        self.thread.start()

    def _run(self) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = self._read(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(buf) < length:
                    chunk = self._read(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                self.messages.put(json.loads(body))
        except (OSError, ValueError):
            return
        finally:
            self.messages.put(None)


class RawClient:
    """Drive a server with raw frames; ``request`` waits for the answer to its own id."""

    def __init__(self, write: Any, read: Any, close: Any) -> None:
        self._write, self._close = write, close
        self.reader = FrameReader(read)
        self.ids = itertools.count(1)
        self.pending: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.closed = False
        self._wlock = threading.Lock()

    @classmethod
    def stdio(cls, model_dir: Path, *args: str, env: dict[str, str] | None = None,
              stderr: Any = subprocess.DEVNULL) -> RawClient:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codeward.server.cli", "serve", "--model", str(model_dir),
             "--log-level", "WARNING", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            env={**os.environ, **(env or {})})
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        def close() -> None:
            try:
                stdin.close()
            except OSError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        client = cls(write, stdout.read1, close)  # type: ignore[attr-defined]
        client.proc = proc  # type: ignore[attr-defined]
        return client

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float = 30.0) -> RawClient:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sock.settimeout(None)

        def close() -> None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

        client = cls(sock.sendall, sock.recv, close)
        client.sock = sock  # type: ignore[attr-defined]
        return client

    # -- sending -----------------------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        with self._wlock:
            self._write(data)

    def send(self, payload: Any) -> None:
        self.send_bytes(frame(payload))

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request_async(self, method: str, params: Any) -> int:
        msg_id = next(self.ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def request(self, method: str, params: Any, timeout: float = DEFAULT_TIMEOUT
                ) -> dict[str, Any]:
        return self.wait(self.request_async(method, params), timeout)

    # -- receiving ---------------------------------------------------------------------------
    def _pump(self, timeout: float) -> bool:
        try:
            msg = self.reader.messages.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return False
        if msg is None:
            self.closed = True
            return False
        if "method" in msg and "id" in msg:
            self.server_requests.append(msg)
            # answer workspace/configuration and the like with nothing
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        elif "method" in msg:
            self.notifications.append(msg)
        else:
            self.pending[json.dumps(msg.get("id"))] = msg
        return True

    def wait(self, msg_id: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        key = json.dumps(msg_id)
        deadline = time.monotonic() + timeout
        while key not in self.pending:
            if self.closed:
                raise ConnectionError(f"server closed the connection before answering {msg_id}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {msg_id} within {timeout} s")
            self._pump(left)
        return self.pending.pop(key)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.closed and time.monotonic() < deadline:
            self._pump(deadline - time.monotonic())

    # -- LSP helpers -------------------------------------------------------------------------
    def initialize(self, options: dict[str, Any] | None = None,
                   capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = {"codeward": {"vetting": {"budget_ms": 2000}}}
        if options:
            opts["codeward"].update(options)
        answer = self.request("initialize", {"processId": None, "rootUri": None,
                                             "capabilities": capabilities or {},
                                             "initializationOptions": opts}, timeout=60)
        self.notify("initialized", {})
        return answer

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})

    def inline(self, uri: str, line: int, character: int, timeout: float = DEFAULT_TIMEOUT
               ) -> dict[str, Any]:
        return self.request("textDocument/inlineCompletion", inline_params(uri, line, character),
                            timeout)

    def shutdown(self) -> None:
        try:
            if not self.closed:
                self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
        except (OSError, TimeoutError, ConnectionError):
            pass
        self._close()


def inline_params(uri: str, line: int, character: int) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}}


def texts(answer: dict[str, Any]) -> list[str]:
    """The inserted texts of an inline completion answer."""
    result = answer.get("result") or {}
    items = result.get("items", []) if isinstance(result, dict) else result
    return [i["insertText"] for i in items]
