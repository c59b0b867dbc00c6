"""SQLite store: embedded, WAL mode, one connection per thread.

WAL lets the API read while ingest writes. ``synchronous=FULL`` makes each committed ingest batch
survive a power cut, which is what allows central to acknowledge it; one fsync per batch (not per
message) keeps that cheap. Writes take the lock up front (``BEGIN IMMEDIATE``) so that two writers
never deadlock upgrading a read lock, and wait up to ``busy_timeout`` for each other, which also
makes several processes on one file safe (if slower than PostgreSQL).

Example:
    >>> store = SqliteStore(":memory:")
    >>> store.sites()
    []
    >>> store.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from central.errors import StoreError
from central.store.sql import MessageRow, SqlStore, Tx

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
  site TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  ts REAL NOT NULL,
  received_at REAL NOT NULL,
  payload BLOB NOT NULL,
  UNIQUE (site, kind, ts, seq)
);
CREATE TABLE IF NOT EXISTS sites (
  site TEXT PRIMARY KEY,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  last_seq INTEGER NOT NULL,
  last_sent_at REAL NOT NULL,
  messages INTEGER NOT NULL,
  health_ts REAL,
  health TEXT,
  aggregate_ts REAL,
  aggregate TEXT
);
CREATE TABLE IF NOT EXISTS plans (
  site TEXT NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  signal TEXT NOT NULL,
  author TEXT NOT NULL,
  note TEXT NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  applied_at REAL,
  reasons TEXT NOT NULL,
  PRIMARY KEY (site, version)
);
CREATE INDEX IF NOT EXISTS plans_status ON plans (status);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  site TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_site ON audit (site, id);
CREATE TABLE IF NOT EXISTS tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL,
  revoked_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
"""


class _SqliteTx:
    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def q(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return self._cur.execute(sql, params).fetchall()

    def run(self, sql: str, params: Any = ()) -> int:
        return self._cur.execute(sql, params).rowcount


class SqliteStore(SqlStore):
    """The :class:`central.store.base.Store` on one SQLite file.

    Args:
        path: Database file (created with its schema if absent), or ``":memory:"`` for a
            single-connection throwaway store.
        busy_timeout_s: How long a writer waits for another writer's lock.
    """

    integrity_errors = (sqlite3.IntegrityError,)
    payload_as_text = False

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self._path = str(path)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        if self._path != ":memory:" and not Path(self._path).parent.is_dir():
            raise StoreError(f"cannot open SQLite store {self._path}: directory does not exist")
        conn = self._conn()
        try:
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as err:
            raise StoreError(f"cannot create the schema in {self._path}: {err}") from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreError("the store is closed")
        if self._path == ":memory:" and self._all:
            # One in-memory database only exists on its one connection.
            conn = self._all[0]
        else:
            try:
                conn = sqlite3.connect(
                    self._path, isolation_level=None, check_same_thread=False, timeout=self._busy_ms / 1000
                )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            except sqlite3.Error as err:
                raise StoreError(f"cannot open SQLite store {self._path}: {err}") from None
            with self._lock:
                self._all.append(conn)
        self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[Tx]:
        conn = self._conn()
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise StoreError(f"cannot write to {self._path}: {err}") from None
        try:
            yield _SqliteTx(cur)
        except BaseException:
            conn.rollback()
            raise
        try:
            cur.execute("COMMIT")
        except sqlite3.Error as err:
            conn.rollback()
            raise StoreError(f"cannot commit to {self._path}: {err}") from None

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        conn = self._conn()
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            yield _SqliteTx(cur)
        finally:
            cur.execute("COMMIT")

    def _insert_messages(self, tx: Tx, rows: list[MessageRow]) -> dict[str, int]:
        conn = self._conn()
        # Batches almost always come from one site; group so rowcounts split per site.
        groups: dict[str, list[MessageRow]] = {}
        for row in rows:
            groups.setdefault(row[0], []).append(row)
        new: dict[str, int] = {}
        for site, group in groups.items():
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO messages (site, seq, kind, ts, received_at, payload) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                group,
            )
            new[site] = conn.total_changes - before
        return new

    def _lock_site_plans(self, tx: Tx, site: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the database's one write lock."""

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
