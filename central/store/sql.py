"""The SQL both stores share: schema-independent queries written once, dialect hooks per backend.

SQLite (3.35+) and PostgreSQL understand the same ``INSERT ... ON CONFLICT`` upserts and
``RETURNING``; what differs (placeholders, DDL, bulk insert, locking) lives in the subclasses.
Queries here use ``?`` placeholders; the PostgreSQL transaction rewrites them to ``%s``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Generic, Protocol, TypeVar, cast

from central.errors import PlanStateError, StoreConflictError, StoreError
from central.store import spans
from central.store.base import (
    AuditEntry,
    MessageKind,
    PlanRecord,
    PlanStatus,
    Role,
    SiteState,
    SiteSummary,
    StoredMessage,
    TokenRecord,
)
from edge.messages import Aggregate, ConfigAck, Envelope, Health
from edge.wirefast import WireEnvelope, encode_any

log = logging.getLogger(__name__)

#: One row of the ``messages`` table: (site, seq, kind, ts, received_at, envelope JSON).
MessageRow = tuple[str, int, str, float, float, str | bytes]

_SITE_COLUMNS = "site, first_seen, last_seen, last_seq, last_sent_at, messages"
_PLAN_COLUMNS = "site, version, status, signal, author, note, created_at, updated_at, applied_at, reasons"

# Newest-by-edge-time wins for the live columns, so a late resend never overwrites fresher state.
_UPSERT_SITE = """
INSERT INTO sites (site, first_seen, last_seen, last_seq, last_sent_at, messages,
                   health_ts, health, aggregate_ts, aggregate)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site) DO UPDATE SET
  last_seen = excluded.last_seen,
  last_seq = CASE WHEN excluded.last_seq > sites.last_seq THEN excluded.last_seq ELSE sites.last_seq END,
  last_sent_at = CASE WHEN excluded.last_sent_at > sites.last_sent_at
                      THEN excluded.last_sent_at ELSE sites.last_sent_at END,
  messages = sites.messages + excluded.messages,
  health = CASE WHEN excluded.health_ts IS NOT NULL
                 AND (sites.health_ts IS NULL OR excluded.health_ts >= sites.health_ts)
                THEN excluded.health ELSE sites.health END,
  health_ts = CASE WHEN excluded.health_ts IS NOT NULL
                    AND (sites.health_ts IS NULL OR excluded.health_ts >= sites.health_ts)
                   THEN excluded.health_ts ELSE sites.health_ts END,
  aggregate = CASE WHEN excluded.aggregate_ts IS NOT NULL
                    AND (sites.aggregate_ts IS NULL OR excluded.aggregate_ts >= sites.aggregate_ts)
                   THEN excluded.aggregate ELSE sites.aggregate END,
  aggregate_ts = CASE WHEN excluded.aggregate_ts IS NOT NULL
                       AND (sites.aggregate_ts IS NULL OR excluded.aggregate_ts >= sites.aggregate_ts)
                      THEN excluded.aggregate_ts ELSE sites.aggregate_ts END
"""


C = TypeVar("C")


class Pool(Generic[C]):
    """A small pool of database connections shared by the threads of one process.

    A connection serves one thread at a time and goes back to the pool afterwards, so the number
    of connections follows the number of concurrent requests, not the number of threads that ever
    ran (a thread-local connection would leak when the server's worker threads come and go).

    Args:
        connect: Opens a new connection.
        close: Closes one.
        broken: Whether a returned connection is unusable (then it is closed, not reused).
        max_idle: Idle connections kept for reuse; more are closed when returned.
    """

    def __init__(
        self,
        connect: Callable[[], C],
        close: Callable[[C], None],
        broken: Callable[[C], bool] = lambda _: False,
        max_idle: int = 8,
    ) -> None:
        self._connect = connect
        self._close = close
        self._broken = broken
        self._max_idle = max_idle
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[C]:
        """Borrow a connection for the duration of the block."""
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _give_back(self, conn: C) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle and not self._broken(conn):
                self._idle.append(conn)
                return
        self._close(conn)

    def close(self) -> None:
        """Close idle connections; borrowed ones close when returned."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn)


class Tx(Protocol):
    """A transaction (or read snapshot) on one connection."""

    def q(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without rows)."""
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement and return how many rows it changed."""
        ...


class _SiteBatch:
    """Per-site facts of one ingest batch, folded into one ``sites`` upsert."""

    __slots__ = ("aggregate", "aggregate_ts", "health", "health_ts", "last_sent_at", "last_seq")

    def __init__(self) -> None:
        self.last_seq = -1
        self.last_sent_at = float("-inf")
        self.health: str | bytes | None = None
        self.health_ts: float | None = None
        self.aggregate: str | bytes | None = None
        self.aggregate_ts: float | None = None


def message_ts(env: WireEnvelope) -> float:
    """The time a message is filed under (see :meth:`central.store.base.Store.messages`)."""
    body = env.body
    if body.kind == "aggregate":
        return body.start
    if body.kind == "events" and body.events:
        return body.events[0].ts
    return env.sent_at


class PendingIngest:
    """A written, uncommitted ingest batch (see :meth:`SqlStore.ingest_begin`).

    :meth:`commit` may be called from another thread than the one that wrote the batch, once.
    """

    __slots__ = ("_new", "_tx")

    def __init__(self, tx: ExitStack | None, new: int) -> None:
        self._tx = tx
        self._new = new

    def commit(self) -> int:
        """Commit durably; return how many messages were new.

        Raises:
            StoreError: the commit failed (the batch is rolled back).
        """
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.close()
        return self._new

    def rollback(self) -> None:
        """Drop the batch instead (idempotent; nothing happens after :meth:`commit`)."""
        tx, self._tx = self._tx, None
        if tx is not None:
            err = StoreError("ingest batch rolled back")
            tx.__exit__(StoreError, err, None)


class SqlStore(ABC):
    """The :class:`central.store.base.Store` logic common to SQLite and PostgreSQL."""

    #: The backend's exception for a unique-constraint violation.
    integrity_errors: tuple[type[Exception], ...] = ()
    #: Whether payloads are bound as text (PostgreSQL TEXT) or as the frame's bytes (SQLite BLOB,
    #: which saves decoding every frame on the write path).
    payload_as_text = True
    #: Whether :meth:`PendingIngest.commit` may run in another thread than :meth:`ingest_begin`.
    background_commit = True

    # --- dialect hooks ----------------------------------------------------------------------
    @abstractmethod
    def _write(self) -> AbstractContextManager[Tx]:
        """A write transaction that commits durably on success and rolls back on error."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Tx]:
        """A read-only snapshot."""

    @abstractmethod
    def _insert_messages(self, tx: Tx, rows: list[MessageRow]) -> dict[str, int]:
        """Insert rows ignoring existing ``(site, seq)``; return new rows per site."""

    @abstractmethod
    def _lock_site_plans(self, tx: Tx, site: str) -> None:
        """Serialise plan version allocation for one site within ``tx``."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # --- write path -------------------------------------------------------------------------
    def ingest(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> int:
        """See :meth:`central.store.base.Store.ingest`."""
        return self.ingest_begin(envelopes, frames).commit()

    def ingest_begin(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> PendingIngest:
        """Write a batch like :meth:`ingest` and stop short of the commit: :meth:`PendingIngest.commit` does it.

        Content the database refuses raises here (and nothing stays open). The commit, whose fsync
        is most of a batch's wall time, may then run in another thread while this one decodes the
        next batch; the batch holds the write lock until then.
        """
        if not envelopes:
            return PendingIngest(None, 0)
        if frames is not None and len(frames) != len(envelopes):
            raise ValueError(f"{len(frames)} frames for {len(envelopes)} envelopes")
        now = time.time()
        rows: list[MessageRow] = []
        batches: dict[str, _SiteBatch] = {}
        acks: list[tuple[str, ConfigAck]] = []
        if frames is None:
            frames = [encode_any(env) for env in envelopes]
        as_text = self.payload_as_text
        span_batch = spans.SpanBatch()
        add_span = span_batch.add
        # The hot loop of the write path: locals only, one pass, no call that can be avoided.
        for env, frame in zip(envelopes, frames, strict=True):
            body = env.body
            kind = body.kind
            site = env.site
            seq = env.seq
            ts = message_ts(env)
            payload: str | bytes = frame.decode() if as_text else frame
            rows.append((site, seq, kind, ts, now, payload))
            add_span(site, kind, ts, seq)
            b = batches.get(site)
            if b is None:
                b = batches[site] = _SiteBatch()
            b.last_seq = max(b.last_seq, seq)
            b.last_sent_at = max(b.last_sent_at, env.sent_at)
            if kind == "aggregate":
                if b.aggregate_ts is None or ts >= b.aggregate_ts:
                    b.aggregate, b.aggregate_ts = payload, ts
            elif kind == "health":
                if b.health_ts is None or ts >= b.health_ts:
                    b.health, b.health_ts = payload, ts
            elif body.kind == "config_ack":  # narrows body for the type checker
                acks.append((site, body))
        stack = ExitStack()
        tx = stack.enter_context(self._write())
        try:
            new = self._insert_messages(tx, rows)
            span_batch.write(tx)
            # Sorted so that concurrent PostgreSQL workers lock site rows in one order (no deadlock).
            for site in sorted(batches):
                b = batches[site]
                tx.run(
                    _UPSERT_SITE,
                    (site, now, now, b.last_seq, b.last_sent_at, new.get(site, 0),
                     b.health_ts, b.health, b.aggregate_ts, b.aggregate),
                )
            for site, ack in acks:
                self._apply_ack(tx, site, ack, now)
        except BaseException as err:
            stack.__exit__(type(err), err, err.__traceback__)  # rolls back
            raise
        return PendingIngest(stack, sum(new.values()))

    def _apply_ack(self, tx: Tx, site: str, ack: ConfigAck, now: float) -> None:
        if ack.applied:
            changed = tx.run(
                "UPDATE plans SET status = 'applied', updated_at = ?, applied_at = ?, reasons = '[]' "
                "WHERE site = ? AND version = ? AND status <> 'applied'",
                (now, now, site, ack.version),
            )
            if changed:
                tx.run(
                    "UPDATE plans SET status = 'superseded', updated_at = ? "
                    "WHERE site = ? AND status = 'applied' AND version <> ?",
                    (now, site, ack.version),
                )
                self._audit(tx, now, f"edge:{site}", "plan.applied", site, {"version": ack.version})
        else:
            changed = tx.run(
                "UPDATE plans SET status = 'refused', updated_at = ?, reasons = ? "
                "WHERE site = ? AND version = ? AND status IN ('pending', 'proposed')",
                (now, json.dumps(ack.reasons), site, ack.version),
            )
            if changed:
                self._audit(
                    tx, now, f"edge:{site}", "plan.refused", site, {"version": ack.version, "reasons": ack.reasons}
                )
        if not changed:
            log.info("config ack from %s for plan v%d changed nothing (unknown or repeated)", site, ack.version)

    # --- sites and messages -----------------------------------------------------------------
    def sites(self) -> list[SiteSummary]:
        """See :meth:`central.store.base.Store.sites`."""
        with self._read() as tx:
            rows = tx.q(f"SELECT {_SITE_COLUMNS} FROM sites ORDER BY site")
        return [_site_summary(r) for r in rows]

    def site_state(self, site: str) -> SiteState | None:
        """See :meth:`central.store.base.Store.site_state`."""
        with self._read() as tx:
            rows = tx.q(f"SELECT {_SITE_COLUMNS}, health, health_ts, aggregate FROM sites WHERE site = ?", (site,))
        if not rows:
            return None
        r = rows[0]
        health = Envelope.model_validate_json(r[6]).body if r[6] is not None else None
        aggregate = Envelope.model_validate_json(r[8]).body if r[8] is not None else None
        return SiteState(
            summary=_site_summary(r[:6]),
            health=cast(Health, health) if health is not None else None,
            health_at=r[7],
            aggregate=cast(Aggregate, aggregate) if aggregate is not None else None,
        )

    def messages(
        self, site: str, kind: MessageKind, start: float, end: float, limit: int
    ) -> list[StoredMessage]:
        """See :meth:`central.store.base.Store.messages`."""
        with self._read() as tx:
            rows = spans.query(tx, site, kind, start=start, end=end, limit=limit)
        return [StoredMessage(r[0], int(r[1]), r[2], float(r[3]), _text(r[4])) for r in rows]

    # --- timing plans -----------------------------------------------------------------------
    def plans(self, site: str) -> list[PlanRecord]:
        """See :meth:`central.store.base.Store.plans`."""
        with self._read() as tx:
            rows = tx.q(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE site = ? ORDER BY version DESC", (site,))
        return [_plan(r) for r in rows]

    def plan(self, site: str, version: int) -> PlanRecord | None:
        """See :meth:`central.store.base.Store.plan`."""
        with self._read() as tx:
            rows = tx.q(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE site = ? AND version = ?", (site, version))
        return _plan(rows[0]) if rows else None

    def propose_plan(self, site: str, signal_json: str, author: str, note: str) -> PlanRecord:
        """See :meth:`central.store.base.Store.propose_plan`."""
        now = time.time()
        with self._write() as tx:
            record = self._new_plan(tx, site, signal_json, author=author, note=note, status="proposed", now=now)
            self._audit(tx, now, author, "plan.proposed", site, {"version": record.version, "note": note})
        return record

    def queue_plan(self, site: str, version: int, actor: str) -> PlanRecord:
        """See :meth:`central.store.base.Store.queue_plan`."""
        now = time.time()
        with self._write() as tx:
            self._lock_site_plans(tx, site)
            rows = tx.q("SELECT status FROM plans WHERE site = ? AND version = ?", (site, version))
            if not rows:
                raise PlanStateError(f"site {site} has no plan version {version}")
            if rows[0][0] != "proposed":
                raise PlanStateError(f"plan v{version} of site {site} is {rows[0][0]}, only a proposed plan can be applied")
            superseded = tx.q(
                "UPDATE plans SET status = 'superseded', updated_at = ? "
                "WHERE site = ? AND status = 'pending' RETURNING version",
                (now, site),
            )
            tx.run(
                "UPDATE plans SET status = 'pending', updated_at = ? WHERE site = ? AND version = ?",
                (now, site, version),
            )
            self._audit(
                tx, now, actor, "plan.queued", site, {"version": version, "superseded": sorted(r[0] for r in superseded)}
            )
            out = tx.q(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE site = ? AND version = ?", (site, version))
        return _plan(out[0])

    def rollback_plan(self, site: str, actor: str) -> PlanRecord:
        """See :meth:`central.store.base.Store.rollback_plan`."""
        now = time.time()
        with self._write() as tx:
            self._lock_site_plans(tx, site)
            current = tx.q("SELECT version FROM plans WHERE site = ? AND status = 'applied'", (site,))
            if not current:
                raise PlanStateError(f"site {site} has no applied plan to roll back from")
            previous = tx.q(
                "SELECT version, signal FROM plans WHERE site = ? AND applied_at IS NOT NULL AND version <> ? "
                "ORDER BY applied_at DESC LIMIT 1",
                (site, current[0][0]),
            )
            if not previous:
                raise PlanStateError(f"site {site} has no earlier applied plan to roll back to")
            prev_version, signal = int(previous[0][0]), _text(previous[0][1])
            for (pending,) in tx.q(
                "UPDATE plans SET status = 'superseded', updated_at = ? "
                "WHERE site = ? AND status = 'pending' RETURNING version",
                (now, site),
            ):
                log.info("rollback of %s supersedes pending plan v%d", site, pending)
            record = self._new_plan(
                tx, site, signal, author=actor, note=f"rollback to v{prev_version}", status="pending", now=now
            )
            self._audit(
                tx, now, actor, "plan.rollback", site,
                {"version": record.version, "from": int(current[0][0]), "to": prev_version},
            )
        return record

    def _new_plan(
        self, tx: Tx, site: str, signal_json: str, *, author: str, note: str, status: PlanStatus, now: float
    ) -> PlanRecord:
        self._lock_site_plans(tx, site)
        (top,) = tx.q("SELECT COALESCE(MAX(version), 0) FROM plans WHERE site = ?", (site,))[0]
        version = int(top) + 1
        tx.run(
            f"INSERT INTO plans ({_PLAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, '[]')",
            (site, version, status, signal_json, author, note, now, now),
        )
        return PlanRecord(site, version, status, signal_json, author, note, now, now, None, ())

    def pending_pushes(self) -> list[PlanRecord]:
        """See :meth:`central.store.base.Store.pending_pushes`."""
        with self._read() as tx:
            rows = tx.q(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE status = 'pending' ORDER BY updated_at, site")
        return [_plan(r) for r in rows]

    # --- audit ------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, site: str | None, detail: dict[str, Any]) -> None:
        """See :meth:`central.store.base.Store.audit`."""
        with self._write() as tx:
            self._audit(tx, time.time(), actor, action, site, detail)

    @staticmethod
    def _audit(tx: Tx, now: float, actor: str, action: str, site: str | None, detail: dict[str, Any]) -> None:  # noqa: PLR0917
        tx.run(
            "INSERT INTO audit (ts, actor, action, site, detail) VALUES (?, ?, ?, ?, ?)",
            (now, actor, action, site, json.dumps(detail, sort_keys=True)),
        )

    def audit_log(self, site: str | None, limit: int, before_id: int | None = None) -> list[AuditEntry]:
        """See :meth:`central.store.base.Store.audit_log`."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if site is not None:
            where.append("site = ?")
            params.append(site)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        with self._read() as tx:
            rows = tx.q(
                f"SELECT id, ts, actor, action, site, detail FROM audit WHERE {' AND '.join(where)} "
                "ORDER BY id DESC LIMIT ?",
                (*params, limit),
            )
        return [AuditEntry(int(r[0]), float(r[1]), r[2], r[3], r[4], json.loads(_text(r[5]))) for r in rows]

    # --- tokens -----------------------------------------------------------------------------
    def add_token(self, name: str, role: Role, token_hash: str, actor: str = "admin") -> TokenRecord:
        """See :meth:`central.store.base.Store.add_token`."""
        now = time.time()
        try:
            with self._write() as tx:
                rows = tx.q(
                    "INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                    (name, role, token_hash, now),
                )
                self._audit(tx, now, actor, "token.created", None, {"name": name, "role": role})
        except self.integrity_errors:
            raise StoreConflictError(f"a live token named {name!r} exists; revoke it first") from None
        return TokenRecord(int(rows[0][0]), name, role, now, None)

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """See :meth:`central.store.base.Store.token_by_hash`."""
        with self._read() as tx:
            rows = tx.q(
                "SELECT id, name, role, created_at, revoked_at FROM tokens WHERE hash = ? AND revoked_at IS NULL",
                (token_hash,),
            )
        return _token(rows[0]) if rows else None

    def tokens(self) -> list[TokenRecord]:
        """See :meth:`central.store.base.Store.tokens`."""
        with self._read() as tx:
            rows = tx.q("SELECT id, name, role, created_at, revoked_at FROM tokens ORDER BY id")
        return [_token(r) for r in rows]

    def revoke_token(self, name: str, actor: str = "admin") -> bool:
        """See :meth:`central.store.base.Store.revoke_token`."""
        now = time.time()
        with self._write() as tx:
            changed = tx.run(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name)
            )
            if changed:
                self._audit(tx, now, actor, "token.revoked", None, {"name": name})
        return changed > 0


def _text(value: str | bytes | memoryview) -> str:
    if isinstance(value, str):
        return value
    return bytes(value).decode()


def _site_summary(r: Sequence[Any]) -> SiteSummary:
    return SiteSummary(r[0], float(r[1]), float(r[2]), int(r[3]), float(r[4]), int(r[5]))


def _plan(r: Sequence[Any]) -> PlanRecord:
    return PlanRecord(
        site=r[0], version=int(r[1]), status=r[2], signal_json=_text(r[3]), author=r[4], note=r[5],
        created_at=float(r[6]), updated_at=float(r[7]), applied_at=None if r[8] is None else float(r[8]),
        reasons=tuple(json.loads(_text(r[9]))),
    )


def _token(r: Sequence[Any]) -> TokenRecord:
    return TokenRecord(int(r[0]), r[1], r[2], float(r[3]), None if r[4] is None else float(r[4]))


def chunks(rows: list[MessageRow], size: int) -> Iterator[list[MessageRow]]:
    """``rows`` in slices of at most ``size``."""
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
