"""The edge's outbox: every message is written here before it is sent, and leaves only when acked.

A :class:`Spool` is one SQLite file in WAL mode holding the encoded envelopes of one site that
central has not acknowledged yet. It numbers messages: sequence numbers are strictly increasing
for the life of the file, across restarts and after every message has been acknowledged (the
high-water mark is stored beside the messages and committed in the same transaction), so central's
idempotence on ``(site, seq)`` can never mistake a new message for an old one.

Durability is chosen per operation. Appends commit with ``synchronous=FULL``: once
:meth:`Spool.append` returns, the message survives a crash or a power cut, and so does the
sequence counter (a counter rolled back by a power cut would reuse numbers central already holds,
and central would then drop the new messages as duplicates). Deletions after an ack commit with
``synchronous=NORMAL``: losing one to a power cut only means the message is sent again and central
ignores the duplicate.

Messages appended together are stored together: one row holds up to ``frames_per_row`` frames of
consecutive seqs, joined by ``\n`` exactly as a DATA batch frame carries them (see
:mod:`edge.link`), so the publisher sends a row as it is read and an ack deletes a row, not a
thousand: per message, the spool then costs little more than its bytes. An ack or an eviction
that covers part of a row splits it and keeps the rest.

The spool is bounded: when the encoded messages exceed ``max_bytes`` the oldest are evicted first
(the newest data is the most useful to a traffic engineer after a long outage, and a bounded file
keeps the box's SD card from filling). Every eviction logs a warning and adds to
:attr:`Spool.evicted`, which the edge reports in ``Health.spool_evicted``.

Example:
    >>> import tempfile, pathlib
    >>> from edge.messages import Health
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "spool.sqlite"
    >>> with Spool(path, site="s1") as spool:
    ...     [(seq, _)] = spool.append([Health(uptime_s=1.0)])
    ...     spool.depth, spool.ack([(seq, seq)]), spool.depth
    (1, 1, 0)
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from edge.errors import SpoolError
from edge.messages import MAX_MESSAGE_BYTES, WIRE_VERSION, Body, Envelope, Health
from edge.wirefast import encode_bodies

log = logging.getLogger(__name__)

_OUTBOX_COLUMNS = "(seq INTEGER PRIMARY KEY, last INTEGER NOT NULL, frames BLOB NOT NULL)"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox {_OUTBOX_COLUMNS};
"""
# ``outbox``: frames of seqs ``seq`` (the first) to ``last``, joined by "\n". ``last`` comes before
# ``frames`` so that reading it never walks a long row's overflow pages.

#: Spool file format version (the ``meta`` row ``format``). 1: one frame per row
#: (``outbox (seq, frame)``), upgraded in place on open.
SPOOL_FORMAT = 2

#: Page size of a new spool file, bytes.
PAGE_SIZE = 16384

#: Size of a row's frames, without their separators.
_SIZE = "length(frames) - (last - seq)"


def _json_float(x: float) -> bytes:
    """A finite float as JSON (``repr`` is JSON for finite floats, and 5x cheaper than json.dumps)."""
    if not math.isfinite(x):
        raise SpoolError(f"sent_at must be a finite time, got {x}")
    return repr(float(x)).encode()


class Spool:
    """Durable, bounded, numbered outbox of one site's encoded envelopes.

    Thread-safe: the edge runtime appends from its own thread while the link thread reads and
    deletes.

    Args:
        path: the SQLite file (created with its folder if absent).
        site: the site id; a spool file belongs to one site for life.
        max_bytes: bound on the stored frames' total size; the oldest are evicted beyond it.
        frames_per_row: frames stored in one row, at most (best a divisor of the publisher's batch).

    Raises:
        SpoolError: the file cannot be opened or written, or belongs to another site.
    """

    def __init__(self, path: str | Path, site: str, max_bytes: int = 256 << 20, frames_per_row: int = 500) -> None:
        if max_bytes <= 0:
            raise SpoolError(f"spool size limit must be positive, got {max_bytes} bytes")
        if frames_per_row < 1:
            raise SpoolError(f"frames_per_row must be at least 1, got {frames_per_row}")
        self.frames_per_row = frames_per_row
        self.path = Path(path)
        self.site = site
        try:
            Envelope(site=site, seq=0, sent_at=0.0, body=Health(uptime_s=0.0))  # validates the site id
        except ValidationError:
            raise SpoolError(f"site id {site!r} is not valid on the wire (1 to 64 characters)") from None
        self._site_json = json.dumps(site).encode()
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._evicted = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # Rows are tens to hundreds of KiB: 16 KiB pages write them in a quarter of the pages
            # (and WAL frames) 4 KiB pages take. Only a new file takes it; an old one keeps its own.
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            # Debian builds SQLite with secure_delete on, which overwrites every deleted frame;
            # FAST still clears what costs no extra I/O and makes acknowledging 20 % cheaper.
            self._db.execute("PRAGMA secure_delete=FAST")
            # Freed pages are reused, so the main file stays near its bound; the WAL file needs its
            # own cap, or it keeps the size of its largest burst on the box's SD card.
            # Checkpoint the WAL after at most a quarter of the bound (SQLite's default is 4 MB),
            # then truncate it back to that size.
            wal_pages = max(4, min((4 << 20) // page, self.max_bytes // page // 4))
            self._db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
            self._db.execute(f"PRAGMA journal_size_limit={wal_pages * page}")
            self._db.executescript(_SCHEMA)
            self._last_seq, self._bytes, self._depth = self._load_meta()
            # The link thread reads what to send through its own connection: in WAL mode a reader
            # never waits for the writer, so sending goes on while an append is being fsynced.
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise SpoolError(f"{self.path}: cannot open spool: {err}") from None

    def _load_meta(self) -> tuple[int, int, int]:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("format", SPOOL_FORMAT), ("site", self.site), ("last_seq", 0)],
            )
            self._db.execute("COMMIT")
            rows = {"format": SPOOL_FORMAT, "site": self.site, "last_seq": 0}
        if rows.get("site") != self.site:
            raise SpoolError(f"{self.path}: spool belongs to site {rows.get('site')!r}, not {self.site!r}")
        if rows.get("format") == 1:
            self._upgrade_from_1()
        elif rows.get("format") != SPOOL_FORMAT:
            raise SpoolError(f"{self.path}: spool format {rows.get('format')!r}, expected {SPOOL_FORMAT}")
        depth, size, _first, top = waiting(self._db, SPOOL_FORMAT)
        return max(int(rows["last_seq"]), top or 0), size, depth

    def _upgrade_from_1(self) -> None:
        """Format 1 kept one frame per row in ``outbox (seq, frame)``: each becomes a row of one."""
        try:
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"CREATE TABLE outbox_v2 {_OUTBOX_COLUMNS}")
            self._db.execute("INSERT INTO outbox_v2 (seq, last, frames) SELECT seq, seq, frame FROM outbox")
            self._db.execute("DROP TABLE outbox")
            self._db.execute("ALTER TABLE outbox_v2 RENAME TO outbox")
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (SPOOL_FORMAT,))
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise
        log.info("spool %s upgraded from format 1 to %d", self.path, SPOOL_FORMAT)

    # -- writing -----------------------------------------------------------------------------

    def append(self, bodies: Sequence[Body], sent_at: float | None = None) -> list[tuple[int, bytes]]:
        """Number, encode and durably store messages; return their ``(seq, frame)`` in order.

        One transaction (and one fsync) for the whole batch, so appending many at once is cheap.
        Evicts the oldest messages if the spool grows past its bound.

        Raises:
            SpoolError: the file cannot be written, or a message is larger than the wire allows
                (then nothing of the batch is spooled).
        """
        if not bodies:
            return []
        stamp = time.time() if sent_at is None else sent_at
        # Serialising is most of an append's cost: done before taking the lock, so the link
        # thread can read and send meanwhile. Only numbering and storing happen under the lock.
        head, mid = self._head(stamp)
        encoded = encode_bodies(bodies)
        with self._lock:
            first = self._last_seq + 1
            # Concatenation, not bytes %-formatting: 0.6 us against 1.9 us a frame.
            frames = [head + str(seq).encode() + mid + body + b"}" for seq, body in enumerate(encoded, start=first)]
            too_big = [len(frame) for frame in frames if len(frame) > MAX_MESSAGE_BYTES]
            if too_big:
                # Central refuses such a frame unread; spooled, it would be resent forever.
                raise SpoolError(f"a message of {too_big[0]} bytes exceeds the wire limit of "
                                 f"{MAX_MESSAGE_BYTES} bytes; nothing was spooled")
            last = first + len(frames) - 1
            rows = _rows(first, frames, self.frames_per_row)
            try:
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT INTO outbox (seq, last, frames) VALUES (?, ?, ?)", rows)
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (last,))
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise SpoolError(f"{self.path}: cannot store messages: {err}") from None
            self._last_seq = last
            self._bytes += sum(map(len, frames))
            self._depth += len(frames)
            if self._bytes > self.max_bytes:
                self._evict_locked()
        return list(zip(range(first, last + 1), frames, strict=True))

    def _head(self, sent_at: float) -> tuple[bytes, bytes]:
        # Frames decode to exactly Envelope(site, seq, sent_at, body) without building and
        # serialising an Envelope per message: the bodies are already validated models.
        # A frame is head + seq + mid + body + "}".
        return (b'{"v":%d,"site":%s,"seq":' % (WIRE_VERSION, self._site_json),
                b',"sent_at":%s,"body":' % _json_float(sent_at))

    def _evict_locked(self) -> None:
        # Evict down to 90 % of the bound so a full spool does not evict on every append.
        excess = self._bytes - self.max_bytes * 9 // 10
        cut, freed = 0, 0
        rows = self._db.execute(f"SELECT seq, last, {_SIZE} FROM outbox ORDER BY seq")
        for seq, last, size in rows:
            if freed + size < excess:
                cut, freed = last, freed + size
                continue
            # This row is enough: evict only as many of its oldest frames as it takes.
            for k, frame in enumerate(self._row(seq).split(b"\n")):
                cut, freed = seq + k, freed + len(frame)
                if freed >= excess:
                    break
            break
        rows.close()
        try:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            count, freed = self._delete_locked([(0, cut)])
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()
            raise SpoolError(f"{self.path}: cannot evict from a full spool: {err}") from None
        self._bytes -= freed
        self._depth -= count
        self._evicted += count
        log.warning(
            "spool %s full (%d bytes > limit %d): evicted the %d oldest message(s) up to seq %d; "
            "%d evicted since start",
            self.path, self._bytes + freed, self.max_bytes, count, cut, self._evicted,
        )

    def ack(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Delete the messages central acknowledged (inclusive ``(first, last)`` seq ranges).

        Returns how many were deleted; ranges already deleted or evicted are ignored.
        """
        spans = [(int(lo), int(hi)) for lo, hi in ranges if lo <= hi]
        if not spans:
            return 0
        with self._lock:
            try:
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN IMMEDIATE")
                count, size = self._delete_locked(spans)
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise SpoolError(f"{self.path}: cannot delete acknowledged messages: {err}") from None
            self._depth -= count
            self._bytes -= size
        return count

    def _delete_locked(self, spans: Iterable[tuple[int, int]]) -> tuple[int, int]:
        """Delete seq ranges inside the caller's transaction; return the messages and bytes deleted."""
        count, size = 0, 0
        for lo, hi in spans:
            # A row reaching into the range from before it, or out of it past its end, is split first;
            # then every row that starts in the range lies inside it.
            for first, last in {self._row_at(lo - 1), self._row_at(hi)}:
                if first <= hi and last >= lo and (first < lo or last > hi):
                    n, b = self._cut_row(first, last, lo, hi)
                    count, size = count + n, size + b
            # Counted and summed inside SQLite: no Python object per deleted row.
            n, b = self._db.execute(
                f"SELECT coalesce(sum(last - seq + 1), 0), coalesce(sum({_SIZE}), 0) FROM outbox "
                "WHERE seq BETWEEN ? AND ?", (lo, hi),
            ).fetchone()
            if n:
                self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (lo, hi))
            count, size = count + int(n), size + int(b)
        return count, size

    def _row_at(self, seq: int) -> tuple[int, int]:
        """``(first, last)`` of the row holding ``seq``, or of the row before it; (0, -1) if none."""
        row = self._db.execute("SELECT seq, last FROM outbox WHERE seq <= ? ORDER BY seq DESC LIMIT 1", (seq,)).fetchone()
        return (int(row[0]), int(row[1])) if row is not None else (0, -1)

    def _row(self, first: int) -> bytes:
        (frames,) = self._db.execute("SELECT frames FROM outbox WHERE seq = ?", (first,)).fetchone()
        return bytes(frames)

    def _cut_row(self, first: int, last: int, lo: int, hi: int) -> tuple[int, int]:
        """Delete seqs ``lo..hi`` from one row, keeping its frames on either side as rows of their own."""
        frames = self._row(first).split(b"\n")
        start, stop = max(lo, first) - first, min(hi, last) - first + 1
        gone = frames[start:stop]
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (first,))
        kept = [(first, lo - 1, frames[:start]), (hi + 1, last, frames[stop:])]
        self._db.executemany(
            "INSERT INTO outbox (seq, last, frames) VALUES (?, ?, ?)",
            [(a, b, b"\n".join(piece)) for a, b, piece in kept if piece],
        )
        return len(gone), sum(map(len, gone))

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback on %s found no open transaction", self.path)

    # -- reading -----------------------------------------------------------------------------

    def pending(self, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Up to ``limit`` unacknowledged ``(seq, frame)`` with ``seq > after``, oldest first."""
        return [(seq, frame) for first, _, frames in self.pending_rows(after, limit)
                for seq, frame in enumerate(frames.split(b"\n"), start=first)]

    def pending_rows(self, after: int = 0, limit: int = 1000) -> list[tuple[int, int, bytes]]:
        """Up to ``limit`` unacknowledged messages with ``seq > after``, oldest first, as rows.

        Each row is ``(first, last, frames)``: the frames of seqs ``first..last`` joined by ``\n``,
        ready to go out as DATA batch frames. A stored row is cut where ``after`` or ``limit`` falls
        inside it.
        """
        with self._read_lock:
            try:
                self._reader.execute("BEGIN")  # one snapshot for both statements
                try:
                    return self._read_rows(after, limit)
                finally:
                    self._reader.execute("COMMIT")
            except sqlite3.Error as err:
                raise SpoolError(f"{self.path}: cannot read spool: {err}") from None

    def _read_rows(self, after: int, limit: int) -> list[tuple[int, int, bytes]]:
        # The row holding ``after + 1`` may start before it: found by its first seq, then cut.
        out = [
            _slice(int(first), int(last), bytes(frames), after + 1, after + limit)
            for first, last, frames in self._reader.execute(
                "SELECT seq, last, frames FROM outbox WHERE seq = (SELECT max(seq) FROM outbox WHERE seq <= ?) "
                "AND last > ?", (after, after),
            ).fetchall()
        ]
        room = limit - sum(last - first + 1 for first, last, _ in out)
        if room <= 0:
            return out
        rows = self._reader.execute("SELECT seq, last, frames FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, room))
        for first, last, frames in rows:  # read one by one: stop once the room is used
            row = _slice(int(first), int(last), bytes(frames), int(first), int(first) + room - 1)
            out.append(row)
            room -= row[1] - row[0] + 1
            if room <= 0:
                break
        rows.close()
        return out

    @property
    def depth(self) -> int:
        """Messages waiting for acknowledgement."""
        return self._depth

    @property
    def size_bytes(self) -> int:
        """Total size of the waiting frames."""
        return self._bytes

    @property
    def last_seq(self) -> int:
        """The highest sequence number ever given out (0 before the first message)."""
        return self._last_seq

    @property
    def evicted(self) -> int:
        """Messages evicted from a full spool since this object was opened."""
        return self._evicted

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock, self._read_lock:
            for conn in (self._reader, self._db):
                try:
                    conn.close()
                except sqlite3.Error as err:
                    log.warning("closing spool %s: %s", self.path, err)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def waiting(db: sqlite3.Connection, spool_format: object) -> tuple[int, int, int | None, int | None]:
    """``(messages, bytes, first seq, last seq)`` waiting in an open spool file of either format."""
    if spool_format == 1:
        query = "SELECT count(*), coalesce(sum(length(frame)), 0), min(seq), max(seq) FROM outbox"
    else:
        query = f"SELECT coalesce(sum(last - seq + 1), 0), coalesce(sum({_SIZE}), 0), min(seq), max(last) FROM outbox"
    depth, size, first, last = db.execute(query).fetchone()
    return int(depth), int(size), first, last


def _rows(first: int, frames: list[bytes], per_row: int) -> list[tuple[int, int, bytes]]:
    """Consecutive frames (seqs from ``first``) as rows ``(first, last, frames joined by newlines)``.

    A row holds at most ``per_row`` frames and at most :data:`MAX_MESSAGE_BYTES` bytes, so that it
    always fits one ZeroMQ frame central accepts (a single frame over the limit never gets here).
    """
    rows: list[tuple[int, int, bytes]] = []
    for k in range(0, len(frames), per_row):
        chunk = frames[k : k + per_row]
        if sum(map(len, chunk)) + len(chunk) <= MAX_MESSAGE_BYTES:
            rows.append((first + k, first + k + len(chunk) - 1, b"\n".join(chunk)))
            continue
        start, size = 0, 0  # big frames: close a row before it outgrows the limit
        for i, frame in enumerate(chunk):
            if i > start and size + len(frame) + 1 > MAX_MESSAGE_BYTES:
                rows.append((first + k + start, first + k + i - 1, b"\n".join(chunk[start:i])))
                start, size = i, 0
            size += len(frame) + 1
        rows.append((first + k + start, first + k + len(chunk) - 1, b"\n".join(chunk[start:])))
    return rows


def _slice(first: int, last: int, frames: bytes, start: int, stop: int) -> tuple[int, int, bytes]:
    """The part of a row ``(first, last, frames)`` from seq ``start`` to ``stop`` (clamped to the row)."""
    start, stop = max(start, first), min(stop, last)
    if (start, stop) == (first, last):
        return first, last, frames
    parts = frames.split(b"\n")
    return start, stop, b"\n".join(parts[start - first : stop - first + 1])
