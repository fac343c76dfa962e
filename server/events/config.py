"""Event-capture settings: ``[tool.codeward.events]`` / initializationOptions ``{"events": ...}``.

Example (``pyproject.toml``)::

    [tool.codeward.events]
    enabled = true              # false: this project's completions are never logged
    retention_days = 90         # older events are purged (and the file compacted)
    exclude = ["secrets/*"]     # added to context.exclude: never logged
    checkpoints = [30, 120, 600]

    [tool.codeward.events.store]
    url = "postgresql://codeward@db.internal/codeward"   # team mode; default: SQLite file

Bad values never raise: :func:`parse` keeps the default for that field and returns a message
naming the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from codeward.analyzers.config import bounded, merge_into

APP = "codeward"


def data_dir() -> Path:
    """The user's data directory (created private, 0700)."""
    path = Path(platformdirs.user_data_dir(APP))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@dataclass
class StoreSettings:
    url: str = ""
    """``sqlite:///path/events.db``, a plain file path, or ``postgresql://...``; empty = the
    SQLite file ``events.db`` under the user's data directory."""
    timeout_s: float = bounded(2.0, 0.01, 60.0)
    """A write slower than this (lock wait, statement timeout) fails and is spilled to the
    journal instead of holding up the queue."""
    retry_s: float = bounded(5.0, 0.1, 3600.0)
    """Seconds between attempts to reach a failed store (and replay the journal)."""
    journal: str = ""
    """Spill journal path; empty = next to the SQLite file, or in the data directory."""
    journal_max_mb: float = bounded(64.0, 0.01, 10240.0)
    """Size limit of the spill journal."""
    journal_when_full: str = "drop-oldest"
    """At the limit: ``drop-oldest`` (the oldest spilled events make room, counted) or
    ``stop`` (new events are not saved, counted as lost)."""

    def validate(self) -> list[str]:
        errors = []
        if self.journal_when_full not in ("drop-oldest", "stop"):
            errors.append("events.store.journal_when_full: expected 'drop-oldest' or 'stop'")
        if self.url and not (self.url.startswith(("sqlite:", "postgresql:", "postgres:"))
                             or "://" not in self.url):
            errors.append("events.store.url: expected sqlite:///PATH, a file path or "
                          "postgresql://...")
        return errors


@dataclass
class EventSettings:
    enabled: bool = True
    """False turns event logging off (per user or per project)."""
    store: StoreSettings = field(default_factory=StoreSettings)
    retention_days: float = bounded(90.0, 0.0, 36500.0)
    """Events older than this are deleted and the store compacted (0 = keep forever)."""
    checkpoints: list[float] = field(default_factory=lambda: [30.0, 120.0, 600.0])
    """Seconds after an acceptance at which survival (kept characters) is measured."""
    exclude: list[str] = field(default_factory=list)
    """Extra globs (added to ``context.exclude``): completions in such files are not logged."""
    prefix_chars: int = bounded(1500, 0, 20000)
    """Characters of context before the cursor kept (redacted) with a completion event."""
    suffix_chars: int = bounded(500, 0, 20000)
    queue_size: int = bounded(10000, 1, 1000000)
    """Bounded queue between the server and the writer thread."""
    overflow: int = bounded(100000, 0, 10000000)
    """Events held in memory past a full queue (counted as back-pressure) before any is
    dropped (dropping is counted and logged as an error)."""
    batch_size: int = bounded(512, 1, 100000)
    salt: str = ""
    """Secret for hashing user, repository and file ids; empty = a random per-install salt
    kept in the data directory. Teams set one shared salt so ids match across machines."""
    user: str = ""
    """User id to hash; empty = the operating-system login name."""
    redact_patterns: list[str] = field(default_factory=list)
    """Extra regular expressions whose matches are redacted as ``<redacted:custom>``."""
    tick_s: float = bounded(1.0, 0.01, 60.0)
    """How often survival checkpoints are checked."""
    written_window_s: float = bounded(60.0, 0.05, 3600.0)
    """After a completion that was not accepted, what the developer writes at its place is
    recorded (redacted) until the line or block is complete, or for at most this long."""

    def validate(self) -> list[str]:
        errors = []
        if not self.checkpoints or any(not 0 < c <= 86400 for c in self.checkpoints) \
                or len(self.checkpoints) > 16:
            errors.append("events.checkpoints: expected 1 to 16 positive seconds (at most 86400)")
        import re

        for pattern in self.redact_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.append(f"events.redact_patterns: {pattern!r} is not a valid regex ({exc})")
        return errors

    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{data_dir() / 'events.db'}"

    def journal_path(self) -> Path:
        if self.store.journal:
            return Path(self.store.journal)
        url = self.store_url()
        if is_sqlite(url):
            return Path(sqlite_path(url) + ".journal")
        digest = hashlib.sha256(redact_url(url).encode()).hexdigest()[:12]
        return data_dir() / f"journal-{digest}.jsonl"


def parse(raw: Any) -> tuple[EventSettings, list[str]]:
    """Validated settings from the raw ``events`` table; bad fields keep their default."""
    errors: list[str] = []
    if not raw:
        return EventSettings(), errors
    if isinstance(raw, dict) and isinstance(raw.get("store"), str):
        raw = {**raw, "store": {"url": raw["store"]}}
    return merge_into(EventSettings(), raw, "events", errors), errors


def is_sqlite(url: str) -> bool:
    return not url.startswith(("postgresql:", "postgres:"))


def sqlite_path(url: str) -> str:
    """``sqlite:///abs/path`` / ``sqlite:relative`` / plain path -> the file path."""
    if url.startswith("sqlite://"):
        return url[len("sqlite://"):]
    if url.startswith("sqlite:"):
        return url[len("sqlite:"):]
    return url


def redact_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
