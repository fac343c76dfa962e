"""A small OpenAI-compatible completions server for tests: the standard library's HTTP
server in a thread (HTTP/1.1, keep-alive, chunked server-sent events, optional TLS).

It answers ``POST /v1/completions`` with a deterministic completion (``reply``), one
"token" per event (a word or a run of spaces, or a newline with the indentation after it)
with a log-probability, honouring ``max_tokens``, ``stop`` and ``n``. It records every
request (body, headers, the client's port) and, per stream, how many tokens it produced
and whether the client closed the connection before the end (``Stream.closed_early``).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = re.compile(r"\n[ \t]*|[ \t]+|\w+|[^\w\s]")


@dataclass
class Stream:
    body: dict[str, Any]
    headers: dict[str, str]
    port: int
    produced: int = 0
    closed_early: bool = False
    ended: threading.Event = field(default_factory=threading.Event)
    ended_at: float = 0.0


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up (what the cancellation tests do) is no error here


class FakeOpenAI:
    def __init__(self, reply: str = "total = a + b\n    return total\n", *,
                 logprob: float | None = -0.05, token_delay: float = 0.0,
                 first_delay: float = 0.0, status: int = 200,
                 tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.reply = reply
        self.logprob = logprob
        self.token_delay = token_delay
        self.first_delay = first_delay
        self.status = status
        self.streams: list[Stream] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers do: each event goes out at once

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._serve(self)

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        scheme = "https" if tls is not None else "http"
        host = "localhost" if tls is not None else "127.0.0.1"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = json.loads(handler.rfile.read(length) or b"{}")
        stream = Stream(body=body, headers=dict(handler.headers.items()),
                        port=handler.client_address[1])
        self.streams.append(stream)
        if self.first_delay:
            time.sleep(self.first_delay)
        if handler.path != "/v1/completions" or self.status != 200 or not body.get("stream"):
            self._error(handler, 404 if handler.path != "/v1/completions" else self.status)
            stream.ended.set()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            self._events(handler, body, stream)
            self._chunk(handler, b"data: [DONE]\n\n")
            self._chunk(handler, b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            stream.closed_early = True
            handler.close_connection = True
        stream.ended_at = time.monotonic()
        stream.ended.set()

    def _events(self, handler: BaseHTTPRequestHandler, body: dict[str, Any],
                stream: Stream) -> None:
        n = int(body.get("n", 1))
        tokens = self.tokens(body)
        for position, token in enumerate(tokens):
            for index in range(n):
                if self.token_delay:
                    time.sleep(self.token_delay)
                last = position == len(tokens) - 1
                choice: dict[str, Any] = {
                    "index": index, "text": token if index == 0 else f"{token}",
                    "finish_reason": "stop" if last else None}
                if self.logprob is not None and body.get("logprobs"):
                    choice["logprobs"] = {"tokens": [token], "token_logprobs": [self.logprob],
                                          "top_logprobs": None, "text_offset": [0]}
                event = {"id": "cmpl-1", "object": "text_completion",
                         "model": body.get("model"), "choices": [choice]}
                self._chunk(handler, b"data: " + json.dumps(event).encode() + b"\n\n")
                stream.produced += 1
        usage = {"id": "cmpl-1", "object": "text_completion", "choices": [],
                 "usage": {"prompt_tokens": 7, "completion_tokens": len(tokens)}}
        self._chunk(handler, b"data: " + json.dumps(usage).encode() + b"\n\n")

    def tokens(self, body: dict[str, Any]) -> list[str]:
        text = self.reply
        for stop in body.get("stop") or ():
            if stop in text:
                text = text[:text.index(stop)]
        return TOKEN.findall(text)[: int(body.get("max_tokens", 16))]

    @staticmethod
    def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    @staticmethod
    def _error(handler: BaseHTTPRequestHandler, status: int) -> None:
        data = json.dumps({"error": {"message": "unavailable", "code": status}}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


if __name__ == "__main__":  # a server in its own process (bench/remote_overhead.py)
    import sys

    with FakeOpenAI(sys.argv[2] if len(sys.argv) > 2 else "total = a + b\n",
                    port=int(sys.argv[1])) as server:
        sys.stdout.write(f"{server.url}\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes it
