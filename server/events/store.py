"""The event store: one interface, two backends (SQLite by default, PostgreSQL for teams).

``open_store(url)`` returns a store; ``url`` is ``sqlite:///PATH``, a plain file path, or
``postgresql://...``; ``None`` = the default SQLite file under the user's data directory.

Rows (what ``write`` takes and ``iter_events`` yields; plain JSON-able dicts). Every row has
``type``, ``event_id`` (unique; writes are idempotent on it), ``completion_id``,
``candidate_index``, ``at`` (epoch seconds), and, when known, ``language``,
``model_version``, ``uri_hash``, ``repo_hash``, ``user_hash``. ``iter_events`` adds ``seq``
(increasing insertion order: a cursor for incremental readers). Fields may be added in later
versions, never renamed.

- ``completion`` (one per candidate, shown or blocked): ``prefix``, ``suffix`` (redacted
  context windows around the cursor), ``suggestion`` (redacted), ``action`` (allow /
  annotate / fix / block), ``findings`` (analyzer findings, strings redacted),
  ``latency_ms``, ``blocked`` (bool), ``kind`` (inline / popup), ``multiline``,
  ``generation_ms``, ``vetting_ms``, ``prompt_tokens``, ``redactions`` ({kind: count}).
- ``show`` / ``accept`` / ``dismiss``: ``accepted_length`` (accept: characters accepted;
  equal to ``suggestion_length`` for a full accept), ``partial`` (bool), ``reason``
  (dismiss: escape, typed-over, superseded, timeout, other), ``shown_ms`` (how long the
  suggestion had been visible, when the client says), ``suggestion_length``.
- ``survival``: ``after_s`` (the checkpoint in seconds, or the time elapsed at close),
  ``checkpoint`` ("30s", ..., or "close"), ``accepted_chars``, ``kept_chars`` (characters
  of the accepted text never deleted since), ``final`` (last measurement of this acceptance).

Storage: indexed columns for the common fields, the rest as JSON in ``data``. The schema is
versioned (table ``codeward_schema``); ``base.MIGRATIONS`` upgrade older stores on open.
``base`` holds what both backends share; this module the SQLite one and ``open_store``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from .base import COLUMNS, Store, StoreError, migrate
from .config import EventSettings, is_sqlite, redact_url, sqlite_path

logger = logging.getLogger(__name__)

class SQLiteStore(Store):
    """A SQLite file in WAL mode; ``synchronous=FULL`` so a commit is on disk when ``write``
    returns; ``secure_delete`` so deleted text is overwritten."""

    dialect = "sqlite"

    def __init__(self, url: str, timeout_s: float = 2.0, synchronous: str = "FULL") -> None:
        super().__init__(url)
        self.path = Path(sqlite_path(url))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # private from the start: it holds people's code
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self.conn.execute("PRAGMA secure_delete=ON")
        self._migrate()

    def _migrate(self) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            migrate(lambda sql, params: c.execute(sql, params).fetchall(), "sqlite",
                    str(self.path))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def _insert_many(self, rows: list[tuple[Any, ...]]) -> int:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            before = c.total_changes
            c.executemany(f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}, data) VALUES "  # noqa: S608 (constant names; values are bound)
                          f"({', '.join('?' * (len(COLUMNS) + 1))})", rows)
            n = c.total_changes - before
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return n

    def _delete(self, sql: str, params: tuple[Any, ...]) -> int:
        with self.conn:
            return self.conn.execute(sql, params).rowcount

    def compact(self) -> None:
        with self._lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> str:
        with self._lock:
            return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass
            self.conn.close()


def url_problem(url: str) -> str | None:
    """What is wrong with an event store URL before anything is opened or created: an
    unknown scheme, or a SQLite file in a folder that does not exist outside the data
    directory (a typo must not silently start a new, empty store in new folders)."""
    from .config import data_dir

    if "://" in url and not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        scheme = url.split("://", 1)[0]
        return (f"unknown event store URL scheme {scheme!r} in {redact_url(url)}: expected "
                "sqlite:///PATH, a file path or postgresql://...")
    if is_sqlite(url):
        folder = Path(sqlite_path(url)).expanduser().absolute().parent
        home = data_dir().absolute()
        if not folder.is_dir() and folder != home and home not in folder.parents:
            return (f"the event store's folder {folder} does not exist (a typo in "
                    f"events.store.url?): fix the path, or create it (mkdir -p {folder})")
    return None


def open_store(url: str | None = None, *, timeout_s: float = 2.0) -> Store:
    """The store at ``url`` (schema created or migrated); ``None`` = the default SQLite file.
    A bad URL raises :class:`StoreError` (see :func:`url_problem`)."""
    url = url or EventSettings().store_url()
    problem = url_problem(url)
    if problem:
        raise StoreError(problem)
    if is_sqlite(url):
        return SQLiteStore(url, timeout_s=timeout_s)
    from .pg import PostgresStore

    return PostgresStore(url, timeout_s=timeout_s)
