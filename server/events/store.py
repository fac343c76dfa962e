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
versioned (table ``codeward_schema``); :data:`MIGRATIONS` upgrade older stores on open.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import EventSettings, is_sqlite, sqlite_path

logger = logging.getLogger(__name__)

COLUMNS = ("event_id", "type", "completion_id", "candidate_index", "at", "language",
           "model_version", "uri_hash", "repo_hash", "user_hash")

# (version, {dialect: [statements]}); each migration runs in one transaction.
MIGRATIONS: list[tuple[int, dict[str, list[str]]]] = [
    (1, {
        "sqlite": [
            """CREATE TABLE events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, completion_id TEXT,
                candidate_index INTEGER, at REAL NOT NULL, language TEXT, model_version TEXT,
                uri_hash TEXT, repo_hash TEXT, user_hash TEXT, data TEXT NOT NULL)""",
            "CREATE INDEX events_at ON events (at)",
            "CREATE INDEX events_completion ON events (completion_id)",
        ],
        "postgresql": [
            """CREATE TABLE events (
                seq BIGSERIAL PRIMARY KEY,
                event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, completion_id TEXT,
                candidate_index INTEGER, at DOUBLE PRECISION NOT NULL, language TEXT,
                model_version TEXT, uri_hash TEXT, repo_hash TEXT, user_hash TEXT,
                data JSONB NOT NULL)""",
            "CREATE INDEX events_at ON events (at)",
            "CREATE INDEX events_completion ON events (completion_id)",
        ],
    }),
    (2, {
        "sqlite": ["CREATE INDEX events_repo ON events (repo_hash)",
                   "CREATE INDEX events_user ON events (user_hash)",
                   "CREATE INDEX events_type_at ON events (type, at)"],
        "postgresql": ["CREATE INDEX events_repo ON events (repo_hash)",
                       "CREATE INDEX events_user ON events (user_hash)",
                       "CREATE INDEX events_type_at ON events (type, at)"],
    }),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreError(Exception):
    pass


def migrate(run: Any, dialect: str, where: str = "codeward") -> None:
    """Bring the schema to SCHEMA_VERSION inside the caller's transaction.

    ``run(sql, params)`` executes one statement and returns its rows (``[]`` when it returns
    none); ``dialect`` picks the statements of MIGRATIONS and the parameter style."""
    set_version = {"sqlite": "UPDATE codeward_schema SET version = ?",
                   "postgresql": "UPDATE codeward_schema SET version = %s"}[dialect]
    run("CREATE TABLE IF NOT EXISTS codeward_schema (version INTEGER NOT NULL)", ())
    rows = run("SELECT version FROM codeward_schema", ())
    if not rows:
        run("INSERT INTO codeward_schema VALUES (0)", ())
    version = rows[0][0] if rows else 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"{where}: schema version {version} is newer than this codeward "
                         f"({SCHEMA_VERSION}); upgrade codeward")
    for number, steps in MIGRATIONS:
        if number > version:
            for sql in steps[dialect]:
                run(sql, ())
            run(set_version, (number,))


def to_columns(row: dict[str, Any]) -> tuple[Any, ...]:
    data = {k: v for k, v in row.items() if k not in COLUMNS and k != "seq"}
    return (*(row.get(c) for c in COLUMNS), json.dumps(data, ensure_ascii=False))


def from_columns(seq: int, values: Iterable[Any], data: Any) -> dict[str, Any]:
    row = json.loads(data) if isinstance(data, str) else dict(data or {})
    row.update(zip(COLUMNS, values, strict=True))
    row["seq"] = seq
    return row


def _epoch(value: float | datetime | None) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return value


class Store:
    """Shared logic; subclasses supply the connection and the dialect's SQL."""

    dialect = ""
    ph = "?"

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()

    # -- dialect hooks ---------------------------------------------------------------------
    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _insert_many(self, rows: list[tuple[Any, ...]]) -> int:
        raise NotImplementedError

    def compact(self) -> None:
        """Make deleted text really gone from the files (VACUUM, WAL checkpoint)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- the interface -------------------------------------------------------------------------
    def write(self, rows: list[dict[str, Any]]) -> int:
        """Insert rows durably (committed when this returns); rows whose ``event_id`` is
        already stored are skipped. Returns the number inserted."""
        if not rows:
            return 0
        with self._lock:
            return self._insert_many([to_columns(r) for r in rows])

    def iter_events(self, since: float | datetime | None = None, *, after_seq: int = 0,
                    types: Iterable[str] | None = None, until: float | datetime | None = None,
                    batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Rows in insertion order, as plain dicts (see the module docstring); ``since`` /
        ``until`` filter on ``at`` (epoch seconds or datetime), ``after_seq`` resumes."""
        where, params = ["seq > {p}"], list[Any]()
        since, until = _epoch(since), _epoch(until)
        if since is not None:
            where.append("at >= {p}")
            params.append(since)
        if until is not None:
            where.append("at < {p}")
            params.append(until)
        kinds = list(types) if types else []
        if kinds:
            where.append("type IN (" + ", ".join(["{p}"] * len(kinds)) + ")")
            params.extend(kinds)
        sql = (f"SELECT seq, {', '.join(COLUMNS)}, data FROM events WHERE "  # noqa: S608 (constant names; values are bound)
               + " AND ".join(where) + f" ORDER BY seq LIMIT {int(batch)}").replace("{p}", self.ph)
        last = after_seq
        while True:
            with self._lock:
                chunk = self._execute(sql, (last, *params))
            for rec in chunk:
                yield from_columns(rec[0], rec[1:-1], rec[-1])
            if len(chunk) < batch:
                return
            last = chunk[-1][0]

    def delete(self, *, before: float | datetime | None = None, repo_hash: str | None = None,
               user_hash: str | None = None, everything: bool = False) -> int:
        """Delete matching rows (all criteria must hold); returns how many."""
        where, params = [], list[Any]()
        before = _epoch(before)
        for col, val in (("repo_hash", repo_hash), ("user_hash", user_hash)):
            if val is not None:
                where.append(f"{col} = {self.ph}")
                params.append(val)
        if before is not None:
            where.append(f"at < {self.ph}")
            params.append(before)
        if not where and not everything:
            raise StoreError("delete needs a criterion (age, repository or user)")
        sql = "DELETE FROM events" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608 (constant names; values are bound)
        with self._lock:
            return self._delete(sql, tuple(params))

    def _delete(self, sql: str, params: tuple[Any, ...]) -> int:
        raise NotImplementedError

    def purge(self, retention_days: float, now: float | None = None) -> int:
        """Delete events older than the retention window and compact if any went."""
        if retention_days <= 0:
            return 0
        cutoff = (now or time.time()) - retention_days * 86400
        n = self.delete(before=cutoff)
        if n:
            self.compact()
            logger.info("purged %d events older than %s days", n, retention_days)
        return n

    def count(self) -> int:
        with self._lock:
            return int(self._execute("SELECT COUNT(*) FROM events")[0][0])

    def schema_version(self) -> int:
        with self._lock:
            return int(self._execute("SELECT version FROM codeward_schema")[0][0])


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


def open_store(url: str | None = None, *, timeout_s: float = 2.0) -> Store:
    """The store at ``url`` (schema created or migrated); ``None`` = the default SQLite file."""
    url = url or EventSettings().store_url()
    if is_sqlite(url):
        return SQLiteStore(url, timeout_s=timeout_s)
    from .pg import PostgresStore

    return PostgresStore(url, timeout_s=timeout_s)
