"""Serving a protocol over stdio or TCP with our own frame reader (``framing``) and envelope
checks (``jsonrpc``) in front of pygls' message handling.

TCP: every connection is its own session, a fresh server from ``new_session()`` (its own
protocol, documents, settings, feedback state) over the one shared backend (engine, model,
analyzers, event writer). A client that disconnects or sends ``exit`` ends only its own
session; the listener and the other sessions go on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import framing, jsonrpc

logger = logging.getLogger(__name__)


class ProblemLog:
    """Logs each kind of framing problem once per connection, at WARNING, then at DEBUG."""

    def __init__(self, peer: str) -> None:
        self.peer, self.counts = peer, dict[str, int]()

    def __call__(self, kind: str, detail: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        level = logging.WARNING if self.counts[kind] == 1 else logging.DEBUG
        logger.log(level, "%s: malformed frame (%s), resynchronised: %s", self.peer, kind, detail)


def dispatch(protocol: Any, body: bytes) -> None:
    """One frame body: answered here when its envelope is broken, else handed to pygls."""
    data, error = jsonrpc.parse(body)
    if error is not None:
        protocol._send_data(error)
        return
    if data is None:
        return
    try:
        message = protocol.structure_message(data)
        protocol.handle_message(message)
    except Exception as exc:
        logger.exception("could not handle a %s message", type(exc).__name__)
        if jsonrpc.valid_id(data.get("id")) and "method" in data and "id" in data:
            protocol._send_data(jsonrpc.error_response(
                data["id"], -32603, "internal error (details are in the server log)"))


async def serve_stream(read: Callable[[int], Any], protocol: Any, max_bytes: int,
                       peer: str, stop: threading.Event | None = None) -> None:
    reader = framing.ByteReader(read)
    async for body in framing.read_frames(reader, ProblemLog(peer), max_bytes):
        dispatch(protocol, body)
        await asyncio.sleep(0)  # let the handlers just started run before the next frame
        if stop is not None and stop.is_set():
            break


class StdoutWriter:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()


def _stdin_reader(loop: asyncio.AbstractEventLoop, stream: Any) -> Callable[[int], Any]:
    """``read(n)`` over a blocking stream, read by a daemon thread (which never holds up
    the process's exit; ``os.read`` on the descriptor, as a buffered reader's lock held by
    a daemon thread aborts the interpreter at exit)."""
    chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
    fd = stream.fileno()

    def pump() -> None:
        while True:
            try:
                data = os.read(fd, framing.CHUNK)
            except (OSError, ValueError):
                data = b""
            asyncio.run_coroutine_threadsafe(chunks.put(data), loop).result()
            if not data:
                return

    threading.Thread(target=pump, name="codeward-stdin", daemon=True).start()

    async def read(n: int) -> bytes:
        return await chunks.get()
    return read


def serve_stdio(server: Any, max_bytes: int = framing.DEFAULT_MAX_BYTES) -> None:
    """What ``LanguageServer.start_io`` does, with our frame reader."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    server._stop_event = stop = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout))

    async def main() -> None:
        read = _stdin_reader(asyncio.get_running_loop(), stdin)
        await serve_stream(read, server.protocol, max_bytes, "stdio", stop)

    try:
        asyncio.run(main())
    except BrokenPipeError:
        logger.error("the client closed the connection; stopping")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


class TcpWriter:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


async def tcp_listener(host: str, port: int, new_session: Callable[[], Any],
                       end_session: Callable[[Any], None],
                       max_bytes: int = framing.DEFAULT_MAX_BYTES) -> asyncio.Server:
    """A TCP listener that serves every connection as its own session."""
    sessions: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        logger.info("client %s connected", peer)
        session = new_session()
        session.protocol.set_writer(TcpWriter(writer))
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        try:
            await serve_stream(reader.read, session.protocol, max_bytes, peer,
                               session.protocol.closed)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("session %s failed", peer)
        finally:
            sessions.discard(task)
            try:
                end_session(session)
            except Exception:
                logger.exception("ending session %s failed", peer)
            writer.close()
            logger.info("client %s disconnected", peer)

    return await asyncio.start_server(on_connection, host, port)
