"""Store fixtures: a real SQLite file in tmp_path and a real PostgreSQL scratch database.

PostgreSQL runs on 127.0.0.1:5432 with trust auth (``.ci/run`` starts it). One scratch database
is created per test session and dropped at its end; tables are emptied before each test. If the
server cannot be reached the PostgreSQL tests fail saying so, unless ``SIMPANG_SKIP_PG=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from central.store import Store, open_store

PG_ADMIN_URL = os.environ.get("SIMPANG_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_base() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a scratch PostgreSQL database that lives for the test session."""
    if os.environ.get("SIMPANG_SKIP_PG") == "1":
        pytest.skip("SIMPANG_SKIP_PG=1: PostgreSQL store tests skipped")
    name = f"simpang_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({' '.join(str(err).split())}); "
            "start it (.ci/run does) or set SIMPANG_SKIP_PG=1 to skip these tests",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{_pg_base()}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_pg(url: str) -> None:
    """Empty every table of the scratch database (the schema stays)."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty store URL of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store')}/central.db"
    url: str = request.getfixturevalue("pg_url")
    empty_pg(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, empty store of each backend."""
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An open, empty SQLite store (for tests where the backend does not matter)."""
    s = open_store(f"sqlite:///{tmp_path}/central.db")
    try:
        yield s
    finally:
        s.close()
