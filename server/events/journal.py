"""Local spill journal: rows the store could not take, kept until they are replayed.

One JSON row per line, appended and fsync'd per batch (rows are already redacted). A line
torn by a crash is skipped on read. Replay is idempotent: rows carry ``event_id`` and the
store ignores ids it already has, so a crash between replay and truncation is harmless.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append durably (fsync before returning)."""
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # A torn last line from a crash must not swallow the first new row.
            if os.fstat(fd).st_size and not self._ends_with_newline():
                data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def read(self) -> Iterator[dict[str, Any]]:
        try:
            fh = open(self.path, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("journal %s: skipping torn line %d", self.path, n)
                    continue
                if isinstance(row, dict):
                    yield row

    def clear(self) -> None:
        """Empty the journal (after its rows were committed to the store)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
