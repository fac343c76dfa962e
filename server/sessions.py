"""``codeward serve --tcp``: one process, a session per connection.

pygls 2.1 shares one protocol object between TCP connections: answers go to the client
that connected last, and one disconnect stops the server for everyone. Here every
connection gets a fresh server from ``lsp.create_server(backend=...)``: its own protocol,
documents, settings, completion reuse and explain history (keyed by its session id), and
feedback state. What is safe to share is shared: the backend (engine and model, the
vetting pipeline with the license index worker, which costs about 1.4 GB per process, and
the event writer). A session's ``shutdown``/``exit`` or disconnect ends that session only;
the backend is closed when the listener stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from . import transport

logger = logging.getLogger(__name__)


def new_session(listener: Any, create: Callable[[], Any]) -> Any:
    """A server for one connection (``create()`` builds it over the listener's backend)."""
    session = create()
    session.owns_backend = False
    session.protocol.in_session = True  # type: ignore[attr-defined]
    session.max_message_bytes = listener.max_message_bytes
    return session


def end_session(session: Any) -> None:
    """Cancel what the session still has running; the shared backend stays."""
    session.protocol.closed.set()
    for future in list(session.protocol._request_futures.values()):
        future.cancel()
    if session._thread_pool is not None:
        session._thread_pool.shutdown(wait=False, cancel_futures=True)


def serve_tcp(listener: Any, host: str, port: int, create: Callable[[], Any]) -> None:
    """Serve connections until interrupted; ``listener`` is the server whose backend the
    sessions share, ``create()`` builds a server over it for each connection
    (``listener.tcp_bound``, if set, is called with the bound addresses)."""

    async def main() -> None:
        server = await transport.tcp_listener(
            host, port, lambda: new_session(listener, create), end_session,
            listener.max_message_bytes)
        listener._server = server
        addresses = [sock.getsockname()[:2] for sock in server.sockets]
        logger.info("listening on %s", ", ".join("{}:{}".format(*a) for a in addresses))
        bound = getattr(listener, "tcp_bound", None)
        if bound is not None:
            bound(addresses)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        listener.backend.close()
