"""The same store suite against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import time
import uuid

import pytest

from codeward.server.events.base import MIGRATIONS, SCHEMA_VERSION, StoreError
from codeward.server.events.store import open_store


def row(kind: str = "completion", at: float | None = None, **extra) -> dict:
    base = {"type": kind, "event_id": uuid.uuid4().hex, "completion_id": "c" + uuid.uuid4().hex[:6],
            "candidate_index": 0, "at": time.time() if at is None else at, "language": "python",
            "model_version": "tiny@1", "uri_hash": "u1", "repo_hash": "r1", "user_hash": "h1"}
    if kind == "completion":
        base.update(prefix="def f():\n    ", suffix="\n", suggestion="return 1", action="allow",
                    findings=[{"rule_id": "X1", "message": "m"}], latency_ms=12.5, blocked=False)
    base.update(extra)
    return base


def test_roundtrip_keeps_every_field(store_url: str) -> None:
    store = open_store(store_url)
    try:
        rows = [row(), row("accept", accepted_length=3, reason=None, shown_ms=120.0),
                row("survival", after_s=30.0, accepted_chars=8, kept_chars=5)]
        assert store.write(rows) == 3
        got = list(store.iter_events())
        assert [g["type"] for g in got] == ["completion", "accept", "survival"]
        for want, have in zip(rows, got, strict=True):
            assert {k: have[k] for k in want} == want
        assert got[0]["seq"] < got[1]["seq"] < got[2]["seq"]
        assert store.schema_version() == SCHEMA_VERSION
    finally:
        store.close()


def test_writes_are_idempotent_on_event_id(store_url: str) -> None:
    store = open_store(store_url)
    try:
        rows = [row() for _ in range(5)]
        assert store.write(rows) == 5
        assert store.write(rows[:3] + [row()]) == 1
        assert store.count() == 6
    finally:
        store.close()


def test_filters_and_paging(store_url: str) -> None:
    store = open_store(store_url)
    try:
        now = time.time()
        store.write([row(at=now - 3600 * i) for i in range(10)] + [row("show", at=now)])
        assert len(list(store.iter_events(batch=3))) == 11
        assert len(list(store.iter_events(since=now - 3600 * 4.5))) == 6
        assert len(list(store.iter_events(until=now - 3600 * 4.5))) == 5
        assert [r["type"] for r in store.iter_events(types=["show"])] == ["show"]
        seqs = [r["seq"] for r in store.iter_events()]
        assert len(list(store.iter_events(after_seq=seqs[6]))) == 4
    finally:
        store.close()


def test_delete_by_age_repo_user_and_purge(store_url: str) -> None:
    store = open_store(store_url)
    try:
        now = time.time()
        store.write([row(at=now - 86400 * 40), row(at=now - 86400 * 40, repo_hash="r2"),
                     row(at=now, repo_hash="r2"), row(at=now, user_hash="h2"), row(at=now)])
        with pytest.raises(StoreError):
            store.delete()
        assert store.delete(repo_hash="r2") == 2
        assert store.delete(user_hash="h2") == 1
        assert store.purge(30, now=now) == 1
        assert store.count() == 1
        assert store.purge(0) == 0
    finally:
        store.close()


def test_migrates_an_older_schema(store_url: str) -> None:
    store = open_store(store_url)
    dialect = store.dialect
    store.close()
    # Rebuild the store at schema version 1, as an older codeward left it.
    if dialect == "sqlite":
        import sqlite3

        from codeward.server.events.config import sqlite_path
        conn = sqlite3.connect(sqlite_path(store_url))
        conn.executescript("DROP TABLE events; DROP TABLE codeward_schema;")
        conn.execute("CREATE TABLE codeward_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO codeward_schema VALUES (1)")
        for sql in MIGRATIONS[0][1]["sqlite"]:
            conn.execute(sql)
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("DROP TABLE events; DROP TABLE codeward_schema")
            conn.execute("CREATE TABLE codeward_schema (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO codeward_schema VALUES (1)")
            for sql in MIGRATIONS[0][1]["postgresql"]:
                conn.execute(sql)
    store = open_store(store_url)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        store.write([row()])
        assert store.count() == 1
    finally:
        store.close()


def test_refuses_a_newer_schema(store_url: str) -> None:
    store = open_store(store_url)
    store._execute("SELECT 1")
    if store.dialect == "sqlite":
        store.conn.execute("UPDATE codeward_schema SET version = 999")
    else:
        with store.conn.transaction():
            store.conn.execute("UPDATE codeward_schema SET version = 999")
    store.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(store_url)


def test_sqlite_purge_really_removes_text(tmp_path) -> None:
    path = tmp_path / "events.db"
    store = open_store(str(path))
    marker = "PURGE_ME_" + uuid.uuid4().hex
    store.write([row(at=time.time() - 86400 * 100, suggestion=marker) for _ in range(50)])
    store.write([row()])
    assert store.purge(30) == 50
    store.close()
    for f in tmp_path.iterdir():
        assert marker.encode() not in f.read_bytes(), f.name
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_sqlite_store_is_wal_and_full_sync(tmp_path) -> None:
    store = open_store(str(tmp_path / "e.db"))
    try:
        assert store._execute("PRAGMA journal_mode")[0][0] == "wal"
        assert store._execute("PRAGMA synchronous")[0][0] == 2  # FULL
        assert store.integrity_check() == "ok"
    finally:
        store.close()
