"""SQLite store: embedded, WAL mode, a small pool of connections shared by threads.

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

import functools
import itertools
import logging
import operator
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from central.errors import StoreError
from central.store import spans
from central.store.sql import MessageRow, Pool, SqlStore, Tx

log = logging.getLogger(__name__)

#: 2: the per-message (site, kind, ts) index became ``message_spans`` (see central.store.spans).
SCHEMA_VERSION = 2
#: Page size of a new database file, bytes.
PAGE_SIZE = 16384

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
  site TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  ts REAL NOT NULL,
  received_at REAL NOT NULL,
  payload BLOB NOT NULL,
  UNIQUE (site, seq)
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
    __slots__ = ("conn", "cur")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.cur = conn.cursor()

    def q(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return self.cur.execute(sql, params).fetchall()

    def run(self, sql: str, params: Any = ()) -> int:
        return self.cur.execute(sql, params).rowcount


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
        self._memory: sqlite3.Connection | None = None
        # An in-memory database exists on its one connection only: share it, one user at a time.
        self._memory_lock = threading.RLock()
        if self._path != ":memory:" and not Path(self._path).parent.is_dir():
            raise StoreError(f"cannot open SQLite store {self._path}: directory does not exist")
        if self._path == ":memory:":
            self._memory = self._connect()
            # Its lock is held from the write to the commit, and only its owner may release it.
            self.background_commit = False
        self._pool: Pool[sqlite3.Connection] = Pool(self._connect, self._close_conn)
        try:
            with self._borrow() as conn:
                conn.executescript(_SCHEMA + spans.SPAN_TABLE + ";")
            with self._write() as tx:
                spans.migrate(tx, _has_old_index)
                tx.run(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as err:
            raise StoreError(f"cannot create the schema in {self._path}: {err}") from None

    def _connect(self) -> sqlite3.Connection:
        if self._memory is not None:
            return self._memory
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=self._busy_ms / 1000
            )
            # Takes effect only on a new file (before WAL mode writes its header); an existing file
            # keeps its page size. 16 KiB pages hold ~30 messages each: 10 % less CPU per stored message.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            # SQLite checkpoints every 1000 pages: keep that at its usual 4 MB whatever the page
            # size, as a bigger checkpoint stalls the commit that runs it (and its ack) for longer.
            page = int(conn.execute("PRAGMA page_size").fetchone()[0])
            conn.execute(f"PRAGMA wal_autocheckpoint = {max(1, (4 << 20) // page)}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        except sqlite3.Error as err:
            raise StoreError(f"cannot open SQLite store {self._path}: {err}") from None
        return conn

    def _close_conn(self, conn: sqlite3.Connection) -> None:
        if conn is not self._memory:
            conn.close()

    @contextmanager
    def _borrow(self) -> Iterator[sqlite3.Connection]:
        with self._pool.connection() as conn:
            if self._memory is None:
                yield conn
            else:
                with self._memory_lock:
                    yield conn

    @contextmanager
    def _write(self) -> Iterator[Tx]:
        with self._borrow() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                raise StoreError(f"cannot write to {self._path}: {err}") from None
            try:
                yield _SqliteTx(conn)
            except BaseException:
                conn.rollback()
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                conn.rollback()
                raise StoreError(f"cannot commit to {self._path}: {err}") from None

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        with self._borrow() as conn:
            conn.execute("BEGIN")
            try:
                yield _SqliteTx(conn)
            finally:
                conn.execute("COMMIT")

    def _insert_messages(self, tx: Tx, rows: list[MessageRow]) -> dict[str, int]:
        conn = cast(_SqliteTx, tx).conn
        # Batches almost always come from one site (and have one received_at): group so rowcounts
        # split per site and each group binds its site and time once.
        groups: dict[tuple[str, float], list[MessageRow]] = {}
        if len(set(map(_SITE_COL, rows))) == 1 and len(set(map(_RECEIVED_COL, rows))) == 1:
            groups[rows[0][0], rows[0][4]] = rows  # the usual batch, without a Python loop per row
        else:
            for row in rows:
                groups.setdefault((row[0], row[4]), []).append(row)
        new: dict[str, int] = {}
        for (site, received_at), group in groups.items():
            before = conn.total_changes
            _insert_site_rows(conn, site, received_at, group)
            new[site] = new.get(site, 0) + conn.total_changes - before
        return new

    def _lock_site_plans(self, tx: Tx, site: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the database's one write lock."""

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()
        if self._memory is not None:
            self._memory.close()


#: Rows per INSERT statement, largest first: a batch goes in as few statements as these sizes allow.
_ROWS_PER_INSERT = (100, 10, 1)
#: Per row: seq, kind, ts, payload; ``?1`` is the site and ``?2`` the batch's received_at, bound once.
_PICK = operator.itemgetter(1, 2, 3, 5)
_SITE_COL = operator.itemgetter(0)
_RECEIVED_COL = operator.itemgetter(4)


@functools.cache
def _insert_sql(n: int) -> str:
    values = ",".join(f"(?1,?{3 + 4 * j},?{4 + 4 * j},?{5 + 4 * j},?2,?{6 + 4 * j})" for j in range(n))
    return f"INSERT INTO messages (site, seq, kind, ts, received_at, payload) VALUES {values} ON CONFLICT (site, seq) DO NOTHING"


def _insert_site_rows(conn: sqlite3.Connection, site: str, received_at: float, rows: list[MessageRow]) -> None:
    """Insert rows of one site and one ``received_at``, many to a statement.

    ``executemany`` pays the sqlite3 module's per-row overhead (statement reset, GIL hand-off) on
    every row: 100 rows to a statement take half its CPU time per row.
    """
    i = 0
    for size in _ROWS_PER_INSERT:
        sql = _insert_sql(size)
        while len(rows) - i >= size:
            params: list[object] = [site, received_at]
            params += itertools.chain.from_iterable(map(_PICK, rows[i : i + size]))
            conn.execute(sql, params)
            i += size


def _has_old_index(tx: spans.Tx) -> bool:
    return bool(tx.q("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (spans.OLD_INDEX,)))
