"""The log filter: secrets redacted as in the event store, pygls' message arguments
summarised, traceback frame paths kept."""

from __future__ import annotations

import logging

from codeward.server.logsafe import RedactingFilter


def _record(name: str, msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("token AKIAIOSFODNN7EXAMPLE")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, exc_info)


def test_secrets_are_redacted_everywhere() -> None:
    record = _record("codeward.x", "key %s", "AKIAIOSFODNN7EXAMPLE", exc=True)
    RedactingFilter().filter(record)
    assert "AKIAIOSFODNN7EXAMPLE" not in record.getMessage()
    assert record.exc_text and "AKIAIOSFODNN7EXAMPLE" not in record.exc_text
    assert __file__ in record.exc_text  # frame paths stay readable


def test_pygls_arguments_are_summarised_unless_debug() -> None:
    params = {"textDocument": {"text": "my_private_code = 1"}}
    record = _record("pygls.protocol.json_rpc", "Failed %s %s", "m", params)
    RedactingFilter().filter(record)
    assert "my_private_code" not in record.getMessage() and "dict elided" in record.getMessage()
    record = _record("pygls.protocol.json_rpc", "Failed %s %s", "m", params)
    RedactingFilter(keep_text=True).filter(record)
    assert "my_private_code" in record.getMessage()
