from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pgcluster import Cluster, find_bindir  # noqa: E402


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user data dir (salt, default store) from tests."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str | Cluster]:
    """``CODEWARD_TEST_PG_URL`` if set, else a throwaway cluster from the Debian binaries."""
    url = os.environ.get("CODEWARD_TEST_PG_URL")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'codeward[postgres]')")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL installed (apt-get install postgresql) and "
                    "CODEWARD_TEST_PG_URL not set")
    cluster = Cluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _fresh_pg(server: str | Cluster) -> str:
    if isinstance(server, Cluster):
        return server.new_database()
    import psycopg

    # A shared server: one schema per test, selected through the search path.
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL for each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return _fresh_pg(request.getfixturevalue("pg_server"))
