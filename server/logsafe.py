"""The server log gets the same redaction as the event store, and no document text.

pygls logs whole messages and params (people's code) when a request fails or a message is
malformed; a wrong-typed field is logged with its value (``"version": "AKIA..."``).
:class:`RedactingFilter`, installed on the log handler, (1) replaces the message and params
arguments of pygls' records with a short summary unless ``keep_text`` (DEBUG mode), and
(2) runs every formatted record, traceback included, through the event store's
:class:`~codeward.server.events.redact.Redactor`, so a secret is a ``<redacted:kind>``
placeholder in the log exactly as it is in the events.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_FRAME = re.compile(r'^(\s*File ")([^"]*)(", line \d+, in .*)$')

MAX_ARG_CHARS = 200


def summarize(value: Any) -> Any:
    """A log argument without document text: scalars and short strings as they are."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_ARG_CHARS else f"<{len(value)} chars elided>"
    return f"<{type(value).__name__} elided>"


class RedactingFilter(logging.Filter):
    def __init__(self, keep_text: bool = False) -> None:
        super().__init__()
        self.keep_text = keep_text
        self._redactor: Any = None
        self._formatter = logging.Formatter()

    def _redact(self, text: str) -> str:
        if self._redactor is None:
            from .events.redact import Redactor

            self._redactor = Redactor()
        try:
            return str(self._redactor.redact(text)[0])
        except Exception:  # never lose a log line to the redactor; lose its text instead
            return f"<log line of {len(text)} chars withheld: redaction failed>"

    def _redact_frame(self, line: str) -> str:
        """A traceback line; the source path of a frame line is kept (paths look random)."""
        match = _FRAME.match(line)
        if match:
            return match.group(1) + match.group(2) + self._redact(match.group(3))
        return self._redact(line) if line.strip() else line

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("pygls") and not self.keep_text and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(summarize(a) for a in args)
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = self._redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = "\n".join(self._redact_frame(line)
                                         for line in record.exc_text.split("\n"))
        return True
