"""The store contract: what central keeps, and the records it hands back.

Central keeps every message an edge sent exactly once (keyed by ``(site, seq)``), a small
per-site summary (last seen, last health, last aggregate) maintained on the write path, timing
plans with their push/ack life cycle, the audit log and the API tokens.

Messages are unique on ``(site, seq)``, whatever their content: a resend is ignored even if the
edge rebuilt it differently. A second index on ``(site, kind, ts)`` serves the time-range queries.

Two implementations share this contract: :class:`central.store.sqlite.SqliteStore` (embedded,
WAL, the default) and :class:`central.store.postgres.PostgresStore` (city scale: several ingest
workers and API processes share one server). :func:`central.store.open_store` picks one by URL.

Plan life cycle (``PlanRecord.status``)::

    proposed --queue--> pending --edge ConfigAck(applied)--> applied --next applied--> superseded
                           |   \\--edge ConfigAck(refused)--> refused
                           \\--another plan queued-------> superseded
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from edge.messages import Aggregate, ConfigPush, Health
from edge.wirefast import WireEnvelope

MessageKind = Literal["aggregate", "events", "health", "config_ack", "config_push"]
PlanStatus = Literal["proposed", "pending", "applied", "refused", "superseded"]
Role = Literal["viewer", "engineer", "admin"]

#: Roles in increasing order of power; a role may do everything the roles before it may.
ROLES: tuple[Role, ...] = ("viewer", "engineer", "admin")


@dataclass(frozen=True, slots=True)
class SiteSummary:
    """What central knows about one site without reading its messages.

    Attributes:
        site: Site id.
        first_seen: When central first stored a message from it (Unix seconds).
        last_seen: When central last stored a message from it (Unix seconds).
        last_seq: Highest sequence number stored.
        last_sent_at: Edge creation time of the newest message stored (Unix seconds); the lag
            ``last_seen - last_sent_at`` shows how far behind the link runs.
        messages: Messages stored.
    """

    site: str
    first_seen: float
    last_seen: float
    last_seq: int
    last_sent_at: float
    messages: int


@dataclass(frozen=True, slots=True)
class SiteState:
    """A site's live picture: summary plus the newest health and aggregate (by edge time)."""

    summary: SiteSummary
    health: Health | None
    health_at: float | None
    aggregate: Aggregate | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One stored message: its identity, its time and its body as JSON text."""

    site: str
    seq: int
    kind: str
    ts: float
    body_json: str


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """One version of a site's timing plan.

    Attributes:
        site: Site id.
        version: Version number, increasing per site from 1 (the ``ConfigPush.version``).
        status: Where it is in its life cycle (see the module docstring).
        signal_json: The :class:`controller.config.SignalConfig` as JSON text.
        author: Token name of who proposed it.
        note: Free text from the author ("rollback to v3", "PM peak retime").
        created_at: When it was proposed (Unix seconds).
        updated_at: When its status last changed (Unix seconds).
        applied_at: When the edge acknowledged applying it (Unix seconds), if it ever did.
        reasons: Why the edge refused it, if it did.
    """

    site: str
    version: int
    status: PlanStatus
    signal_json: str
    author: str
    note: str
    created_at: float
    updated_at: float
    applied_at: float | None
    reasons: tuple[str, ...]

    def push(self) -> ConfigPush:
        """The wire message that carries this plan to the edge."""
        return ConfigPush.model_validate_json(
            f'{{"version": {self.version}, "signal": {self.signal_json}, "author": {json.dumps(self.author)}}}'
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what, when, to which site."""

    id: int
    ts: float
    actor: str
    action: str
    site: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as stored: never the token itself, only its SHA-256."""

    id: int
    name: str
    role: Role
    created_at: float
    revoked_at: float | None


class Store(Protocol):
    """Everything central persists. Implementations are safe to call from several threads."""

    # --- write path -------------------------------------------------------------------------
    def ingest(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> int:
        """Durably store a batch; return how many messages were new.

        Idempotent on ``(site, seq)``: a message already stored is ignored. The batch is committed
        (and on SQLite fsynced) before this returns, so the caller may acknowledge it. ``frames``,
        when given, are the validated wire frames the envelopes were decoded from (same order);
        they are stored as they are, which saves serialising every message again.
        ``ConfigAck`` bodies also move the acknowledged plan to ``applied`` or ``refused``.
        """
        ...

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...

    # --- sites and messages -----------------------------------------------------------------
    def sites(self) -> list[SiteSummary]:
        """Every site that has sent a message, by id."""
        ...

    def site_state(self, site: str) -> SiteState | None:
        """The live picture of one site; ``None`` if it never sent anything."""
        ...

    def messages(
        self, site: str, kind: MessageKind, start: float, end: float, limit: int
    ) -> list[StoredMessage]:
        """Messages of one kind with ``start <= ts < end`` in time order, at most ``limit``.

        ``ts`` is the interval start for aggregates, the first event's time for events, and the
        edge's ``sent_at`` for everything else.
        """
        ...

    # --- timing plans -----------------------------------------------------------------------
    def plans(self, site: str) -> list[PlanRecord]:
        """All plan versions of a site, newest first."""
        ...

    def plan(self, site: str, version: int) -> PlanRecord | None:
        """One plan version."""
        ...

    def propose_plan(self, site: str, signal_json: str, author: str, note: str) -> PlanRecord:
        """Store a validated plan as the site's next version, status ``proposed``; audit it."""
        ...

    def queue_plan(self, site: str, version: int, actor: str) -> PlanRecord:
        """Mark a proposed plan ``pending`` (to be pushed); supersede any other pending; audit it.

        Raises:
            PlanStateError: The plan does not exist or is not ``proposed``.
        """
        ...

    def rollback_plan(self, site: str, actor: str) -> PlanRecord:
        """Queue a copy of the plan applied before the current one as a new version; audit it.

        Raises:
            PlanStateError: Fewer than two plans were ever applied at the site.
        """
        ...

    def pending_pushes(self) -> list[PlanRecord]:
        """Plans waiting for the edge's acknowledgement, oldest first (the push side's queue)."""
        ...

    # --- audit ------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, site: str | None, detail: dict[str, Any]) -> None:
        """Append one entry to the audit log."""
        ...

    def audit_log(self, site: str | None, limit: int, before_id: int | None = None) -> list[AuditEntry]:
        """Audit entries, newest first; only one site's when ``site`` is given."""
        ...

    # --- tokens -----------------------------------------------------------------------------
    def add_token(self, name: str, role: Role, token_hash: str, actor: str = "admin") -> TokenRecord:
        """Store a new token's hash; audit it as done by ``actor``.

        Raises:
            StoreConflictError: A token with this name exists.
        """
        ...

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The live (not revoked) token with this hash."""
        ...

    def tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included."""
        ...

    def revoke_token(self, name: str, actor: str = "admin") -> bool:
        """Revoke a token by name (audited as ``actor``); ``False`` if no live token has that name."""
        ...

