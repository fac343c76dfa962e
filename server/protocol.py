"""The JSON-RPC layer: LSP lifecycle rules pygls leaves out, and Codeward's typed messages.

- Requests before ``initialize`` get ServerNotInitialized (-32002), requests after
  ``shutdown`` InvalidRequest (-32600), requests whose params cannot be read InvalidParams
  (-32602).
- The three feedback notifications (``codeward/didShowCompletion``, ...) are structured
  into the attrs classes below by lsprotocol's converter (camelCase on the wire); a
  notification whose params cannot be read is logged and dropped (there is nobody to answer).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from typing import Any, Final, Literal

import attrs
from lsprotocol import types
from lsprotocol.types import ResponseError
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .document import strict_positions

INTERNAL_ERROR = -32603

logger = logging.getLogger(__name__)

DID_SHOW: Final = "codeward/didShowCompletion"
DID_ACCEPT: Final = "codeward/didAcceptCompletion"
DID_DISMISS: Final = "codeward/didDismissCompletion"


@attrs.define
class FeedbackParams:
    """What a client reports about one candidate of a completion (see the README)."""

    id: str
    index: int = 0
    shown_ms: float | None = None
    accepted_length: int | None = None
    """didAccept only: characters accepted (partial when shorter than the suggestion)."""
    reason: str | None = None
    """didDismiss only: escape, typed-over, superseded or timeout."""


@attrs.define
class DidShowCompletionNotification:
    params: FeedbackParams
    method: Literal["codeward/didShowCompletion"] = DID_SHOW
    jsonrpc: str = "2.0"


@attrs.define
class DidAcceptCompletionNotification:
    params: FeedbackParams
    method: Literal["codeward/didAcceptCompletion"] = DID_ACCEPT
    jsonrpc: str = "2.0"


@attrs.define
class DidDismissCompletionNotification:
    params: FeedbackParams
    method: Literal["codeward/didDismissCompletion"] = DID_DISMISS
    jsonrpc: str = "2.0"


MESSAGE_TYPES: dict[str, type] = {
    DID_SHOW: DidShowCompletionNotification,
    DID_ACCEPT: DidAcceptCompletionNotification,
    DID_DISMISS: DidDismissCompletionNotification,
}


class _Invalid:
    """A message whose params could not be read: a request is answered with InvalidParams,
    a notification is dropped."""

    def __init__(self, msg_id: Any, method: str, detail: str) -> None:
        self.id, self.method, self.detail = msg_id, method, detail
        self.jsonrpc = "2.0"


class CodewardProtocol(LanguageServerProtocol):
    """Adds the LSP lifecycle rules pygls leaves out: ServerNotInitialized before
    ``initialize``, InvalidRequest after ``shutdown``, InvalidParams for unreadable params."""

    _got_initialize = False
    in_session = False
    """True for a TCP connection's session: ``exit`` ends the connection, not the process."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.closed = threading.Event()

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        if not self.in_session:
            yield from super().lsp_exit(*args)
            return
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.closed.set()
        if self.writer is not None:
            self.writer.close()

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        if error is not None and getattr(error, "code", None) == INTERNAL_ERROR:
            # the traceback (server file paths, maybe values) is in the log only: pygls
            # logs it where the exception is caught
            error = ResponseError(code=INTERNAL_ERROR,
                                  message="internal error (details are in the server log)")
        super()._send_response(msg_id, result, error)

    def get_message_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        return MESSAGE_TYPES.get(method) or super().get_message_type(method)

    def structure_message(self, data: dict[str, Any]):  # type: ignore[no-untyped-def]
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            if "params" not in data:  # JSON-RPC: params may be omitted
                data = {**data, "params": None}
            problem = strict_positions(data.get("params"))
            if problem:
                return _Invalid(data.get("id"), data["method"], problem)
        try:
            return super().structure_message(data)
        except Exception as exc:
            if isinstance(data, dict) and "method" in data and (
                    "id" in data or data["method"] in MESSAGE_TYPES):
                return _Invalid(data.get("id"), data["method"], str(exc.__cause__ or exc))
            raise

    def handle_message(self, message):  # type: ignore[no-untyped-def]
        method = getattr(message, "method", "")
        is_request = hasattr(message, "id") and bool(method)
        if isinstance(message, _Invalid):
            if message.id is None:
                logger.warning("ignoring %s with unreadable params: %s", message.method,
                               message.detail)
                return
            self._send_response(message.id, error=JsonRpcInvalidParams(
                f"invalid params for {message.method}: {message.detail}").to_response_error())
            return
        if not self._got_initialize and method not in (types.INITIALIZE, types.EXIT):
            if is_request:
                self._send_response(message.id, error=JsonRpcServerNotInitialized(
                    "server not initialized").to_response_error())
            return
        if self._shutdown and method != types.EXIT and is_request:
            self._send_response(message.id, error=JsonRpcInvalidRequest(
                "server is shutting down").to_response_error())
            return
        if method == types.INITIALIZE:
            if self._got_initialize:
                if is_request:
                    self._send_response(message.id, error=JsonRpcInvalidRequest(
                        "initialize was already received; the server is initialized once")
                        .to_response_error())
                return
            self._got_initialize = True
        super().handle_message(message)
