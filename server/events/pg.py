"""PostgreSQL backend (team mode): same rows, same interface as the SQLite store.

Needs ``psycopg`` 3 (the ``postgres`` extra). Commits are synchronous (PostgreSQL's default
``synchronous_commit = on``), so a row is durable when ``write`` returns. ``statement_timeout``
bounds a slow server so the writer can spill to its journal instead of waiting.
"""

from __future__ import annotations

import logging
from typing import Any

from .base import COLUMNS, Store, StoreError, migrate
from .config import redact_url

logger = logging.getLogger(__name__)

LOCK_ID = 0x636F6465  # advisory lock serialising migrations across processes


class PostgresStore(Store):
    dialect = "postgresql"
    ph = "%s"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        super().__init__(url)
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError("PostgreSQL store needs psycopg: pip install 'codeward[postgres]'"
                             ) from exc
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        from psycopg.conninfo import conninfo_to_dict

        try:
            options = conninfo_to_dict(url).get("options") or ""
            self.conn = psycopg.connect(
                url, connect_timeout=max(1, int(timeout_s + 0.999)),
                options=f"{options} -c statement_timeout={int(timeout_s * 1000)}".strip(),
                application_name="codeward-events",
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact_url(url)}: {exc}") from exc
        self._migrate()

    def _migrate(self) -> None:
        with self.conn.transaction():
            cur = self.conn.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))

            def run(sql: str, params: tuple[Any, ...]) -> list[Any]:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description is not None else []

            migrate(run, "postgresql", redact_url(self.url))

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.conn.transaction():
            return self.conn.execute(sql, params).fetchall()

    def _insert_many(self, rows: list[tuple[Any, ...]]) -> int:
        cols = ", ".join(COLUMNS)
        values = ", ".join(["%s"] * len(COLUMNS) + ["%s::jsonb"])
        sql = (f"INSERT INTO events ({cols}, data) VALUES ({values}) "  # noqa: S608 (constant names; values are bound)
               "ON CONFLICT (event_id) DO NOTHING")
        try:
            with self.conn.transaction():
                cur = self.conn.cursor()
                cur.executemany(sql, rows)
                return max(cur.rowcount, 0)
        except Exception:
            self._reset_if_broken()
            raise

    def _delete(self, sql: str, params: tuple[Any, ...]) -> int:
        with self.conn.transaction():
            return self.conn.execute(sql, params).rowcount

    def _reset_if_broken(self) -> None:
        if self.conn.closed or self.conn.broken:
            raise StoreError(f"lost connection to {redact_url(self.url)}")

    def compact(self) -> None:
        """VACUUM FULL rewrites the table so deleted rows are gone from the data files."""
        with self._lock:
            self.conn.commit()
            self.conn.autocommit = True
            try:
                self.conn.execute("VACUUM FULL events")
            finally:
                self.conn.autocommit = False

    def close(self) -> None:
        with self._lock:
            self.conn.close()
