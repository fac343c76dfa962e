"""JSON-RPC 2.0 envelopes from untrusted bytes: parse, check, answer what cannot be served.

:func:`parse` turns a frame body into a message dict, or into the error response that
JSON-RPC 2.0 prescribes: -32700 for invalid JSON (and invalid UTF-8), -32600 for a batch
(LSP has none), a bare value, a missing or wrong ``jsonrpc``, an id that is not a string,
an integer or null, a ``method`` that is not a string. The id of an error response is the
request's when it can be read, else null. Lone surrogates (``"\\ud800"``) anywhere in the
message are replaced by U+FFFD, which keeps every UTF-16 and UTF-32 position (one unit for
one unit) and lets the text be encoded everywhere later (tree-sitter, the tokenizer, logs,
the event store). No protocol library types here.
"""

from __future__ import annotations

import json
import re
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
_SURROGATE = re.compile("[\ud800-\udfff]")


def error_response(msg_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool))


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def parse(body: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(message, None) for a well-formed envelope, else (None, error response or None when
    nothing must be answered)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return None, error_response(None, PARSE_ERROR, f"parse error: {_short(exc)}")
    if isinstance(data, list):
        return None, error_response(None, INVALID_REQUEST,
                                    "invalid request: batches are not supported")
    if not isinstance(data, dict):
        return None, error_response(None, INVALID_REQUEST,
                                    f"invalid request: expected an object, got "
                                    f"{type(data).__name__}")
    msg_id = data.get("id")
    answer_id = msg_id if valid_id(msg_id) else None
    problem = _envelope_problem(data)
    if problem:
        is_notification = "id" not in data and isinstance(data.get("method"), str)
        if is_notification and data.get("jsonrpc") == "2.0":
            return None, None  # nobody to answer
        return None, error_response(answer_id, INVALID_REQUEST, f"invalid request: {problem}")
    return scrub(data), None


def _envelope_problem(data: dict[str, Any]) -> str:
    if data.get("jsonrpc") != "2.0":
        return "'jsonrpc' must be \"2.0\""
    if "id" in data and not valid_id(data["id"]):
        return "'id' must be a string, an integer or null"
    if "method" in data:  # params of the wrong shape are -32602, answered by the protocol
        return "" if isinstance(data["method"], str) else "'method' must be a string"
    if "id" in data and ("result" in data or "error" in data):
        return ""  # a response to a request of ours
    return "neither a request, a notification nor a response"


def _short(exc: BaseException, limit: int = 120) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."
