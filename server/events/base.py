"""What both event-store backends share: the columns, the versioned schema and its
migrations, row (de)serialisation and the :class:`Store` base class with the dialect-free
queries. ``store`` (SQLite, ``open_store``) and ``pg`` (PostgreSQL) build on it; the row
format is described in ``store``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

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
