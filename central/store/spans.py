"""Time index of the ``messages`` table: one row per site, kind and hour, not one per message.

Messages are keyed by ``(site, seq)``. Engineers ask for them by time (``start <= ts < end``), and
a per-message index on ``(site, kind, ts)`` made every stored message update a third B-tree: on
SQLite it took the batched insert from about 105,000 to 65,000 rows/s. A site numbers its messages
as it makes them, so the messages of one hour occupy a narrow band of sequence numbers. This module
keeps that band, ``message_spans(site, kind, bucket, seq_lo, seq_hi)``, written once per site,
kind and hour of each ingest batch (a min/max upsert), in the spirit of a PostgreSQL BRIN index.

A time query reads the spans of the hours it covers, in order, and scans each band through the
primary key, keeping the rows of that hour that match; it stops once an hour has filled the
limit, because every row of a later hour is later in time. Correctness never depends on how the
bands fall: a late or resent message only widens its hour's band, and every message lies inside
its own hour's band by construction (the upsert runs in the same transaction as the insert).

Example:
    >>> bucket_of(7199.9), bucket_of(7200.0), bucket_of(-0.5)
    (1, 2, -1)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Width of one span bucket, seconds.
BUCKET_S = 3600.0
#: Buckets are clamped to this magnitude so that any finite timestamp binds as a 64-bit integer.
_MAX_BUCKET = 1 << 52

SPAN_TABLE = """
CREATE TABLE IF NOT EXISTS message_spans (
  site TEXT NOT NULL,
  kind TEXT NOT NULL,
  bucket BIGINT NOT NULL,
  seq_lo BIGINT NOT NULL,
  seq_hi BIGINT NOT NULL,
  PRIMARY KEY (site, kind, bucket)
)
"""

#: The per-message index the spans replace (dropped, after a backfill, by :func:`migrate`).
OLD_INDEX = "messages_site_kind_ts"

UPSERT_SPAN = """
INSERT INTO message_spans (site, kind, bucket, seq_lo, seq_hi) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (site, kind, bucket) DO UPDATE SET
  seq_lo = CASE WHEN excluded.seq_lo < message_spans.seq_lo THEN excluded.seq_lo ELSE message_spans.seq_lo END,
  seq_hi = CASE WHEN excluded.seq_hi > message_spans.seq_hi THEN excluded.seq_hi ELSE message_spans.seq_hi END
"""

_SPANS_IN = (
    "SELECT bucket, seq_lo, seq_hi FROM message_spans "
    "WHERE site = ? AND kind = ? AND bucket BETWEEN ? AND ? ORDER BY bucket"
)
_ROWS_IN = (
    "SELECT site, seq, kind, ts, payload FROM messages "
    "WHERE site = ? AND seq BETWEEN ? AND ? AND kind = ? AND ts >= ? AND ts < ?"
)

#: One span: ``(site, kind, bucket) -> [seq_lo, seq_hi]``.
SpanKey = tuple[str, str, int]


class Tx(Protocol):
    """The part of a store transaction this module uses."""

    def q(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement."""
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement."""
        ...


def bucket_of(ts: float) -> int:
    """The span bucket (hour number) of a finite timestamp, clamped to a 64-bit-safe range."""
    b = math.floor(ts / BUCKET_S)
    if -_MAX_BUCKET <= b <= _MAX_BUCKET:
        return b
    return _MAX_BUCKET if b > 0 else -_MAX_BUCKET


class SpanBatch:
    """Spans of one ingest batch, folded per ``(site, kind, bucket)`` before they are written."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: dict[SpanKey, list[int]] = {}

    def add(self, site: str, kind: str, ts: float, seq: int) -> None:
        """Note one message."""
        key = (site, kind, bucket_of(ts))
        span = self.spans.get(key)
        if span is None:
            self.spans[key] = [seq, seq]
        elif seq < span[0]:
            span[0] = seq
        elif seq > span[1]:
            span[1] = seq

    def write(self, tx: Tx) -> None:
        """Upsert the spans, in key order (concurrent PostgreSQL workers then lock rows in one order)."""
        for key in sorted(self.spans):
            lo, hi = self.spans[key]
            tx.run(UPSERT_SPAN, (*key, lo, hi))


def query(tx: Tx, site: str, kind: str, *, start: float, end: float, limit: int) -> list[tuple[Any, ...]]:
    """Rows ``(site, seq, kind, ts, payload)`` with ``start <= ts < end``, by ``(ts, seq)``, at most ``limit``."""
    if limit <= 0 or not start < end:
        return []
    out: list[tuple[Any, ...]] = []
    for bucket, lo, hi in tx.q(_SPANS_IN, (site, kind, bucket_of(start), bucket_of(end))):
        rows = [r for r in tx.q(_ROWS_IN, (site, lo, hi, kind, start, end)) if bucket_of(float(r[3])) == bucket]
        rows.sort(key=lambda r: (float(r[3]), int(r[1])))
        out.extend(rows)
        if len(out) >= limit:
            break
    return out[:limit]


def migrate(tx: Tx, has_old_index: Callable[[Tx], bool], batch_rows: int = 50_000) -> None:
    """Fill ``message_spans`` from a database written with the per-message index, then drop it.

    Runs inside the caller's schema transaction, so it happens once, whole or not at all.
    """
    if not has_old_index(tx):
        return
    spans = SpanBatch()
    after: tuple[str, int] = ("", -1)
    total = 0
    while True:
        rows = tx.q(
            "SELECT site, seq, kind, ts FROM messages WHERE site > ? OR (site = ? AND seq > ?) "
            "ORDER BY site, seq LIMIT ?",
            (after[0], after[0], after[1], batch_rows),
        )
        for site, seq, kind, ts in rows:
            spans.add(str(site), str(kind), float(ts), int(seq))
        total += len(rows)
        if len(rows) < batch_rows:
            break
        after = (str(rows[-1][0]), int(rows[-1][1]))
    spans.write(tx)
    tx.run(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    log.warning("store upgraded: %d message(s) indexed by time span (%d span rows); dropped index %s",
                total, len(spans.spans), OLD_INDEX)

