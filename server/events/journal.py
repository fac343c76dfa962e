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


class JournalFull(OSError):
    """The journal is at its size limit and ``when_full = "stop"``: the rows were not saved."""


class Journal:
    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024,
                 when_full: str = "drop-oldest") -> None:
        self.path = Path(path)
        self.max_bytes, self.when_full = max_bytes, when_full
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except OSError:  # missing, or its directory cannot be reached: nothing pending
            return False

    def append(self, rows: list[dict[str, Any]]) -> int:
        """Append durably (fsync before returning). Past ``max_bytes`` the oldest rows are
        dropped to make room (their number is returned), or with ``when_full = "stop"``
        :class:`JournalFull` is raised and nothing is written."""
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        dropped = 0
        if self.size() + len(data) > self.max_bytes:
            if self.when_full == "stop" or len(data) > self.max_bytes // 2:
                raise JournalFull(f"journal {self.path} is full ({self.max_bytes} bytes)")
            dropped = self._drop_oldest(self.max_bytes // 2 - len(data))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # A torn last line from a crash must not swallow the first new row.
            if os.fstat(fd).st_size and not self._ends_with_newline():
                data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return dropped

    def _drop_oldest(self, keep: int) -> int:
        """Keep the newest whole lines that fit in ``keep`` bytes (atomic rewrite)."""
        with open(self.path, "rb") as fh:
            lines = fh.read().splitlines(keepends=True)
        kept: list[bytes] = []
        total = 0
        for line in reversed(lines):
            if total + len(line) > keep:
                break
            kept.append(line)
            total += len(line)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(reversed(kept)))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        return len(lines) - len(kept)

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
