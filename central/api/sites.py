"""``/api/sites``: the sites central knows and their live status."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from central.api.common import SiteId
from central.auth import StoreDep, Viewer
from central.store.base import SiteSummary
from edge.messages import Aggregate, Health

router = APIRouter(prefix="/api/sites", tags=["sites"])

#: A site whose last message is older than this is shown offline.
OFFLINE_AFTER_S = 90.0


class SitePublic(BaseModel):
    """A site as the API shows it."""

    site: str = Field(description="Site id.")
    first_seen: float = Field(description="When central first stored a message from it (Unix seconds).")
    last_seen: float = Field(description="When central last stored a message from it (Unix seconds).")
    last_seq: int = Field(description="Highest sequence number stored.")
    messages: int = Field(description="Messages stored.")
    lag_s: float = Field(description="Age of its newest stored message when it was stored (link backlog).")
    online: bool = Field(description=f"A message arrived within the last {OFFLINE_AFTER_S:g} s.")

    @classmethod
    def of(cls, s: SiteSummary, now: float) -> SitePublic:
        """From the store's summary."""
        return cls(
            site=s.site, first_seen=s.first_seen, last_seen=s.last_seen, last_seq=s.last_seq, messages=s.messages,
            lag_s=max(0.0, s.last_seen - s.last_sent_at), online=now - s.last_seen < OFFLINE_AFTER_S,
        )


class SiteStatus(BaseModel):
    """A site's live status: current phase and queues (from the last heartbeat), last counts."""

    site: SitePublic
    health_at: float | None = Field(description="Edge time of the last heartbeat (Unix seconds).")
    health: Health | None = Field(description="The last heartbeat: phase green now, live queues, camera and spool state.")
    aggregate: Aggregate | None = Field(description="The newest interval aggregate: last counts and measures.")


@router.get("", summary="List sites")
def list_sites(store: StoreDep, _: Viewer) -> list[SitePublic]:
    """Every site that has sent a message, by id."""
    now = time.time()
    return [SitePublic.of(s, now) for s in store.sites()]


@router.get("/{site}", summary="Live status of one site")
def site_status(site: SiteId, store: StoreDep, _: Viewer) -> SiteStatus:
    """Current phase, queues, last counts and health of one site."""
    state = store.site_state(site)
    if state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown site {site!r}")
    return SiteStatus(
        site=SitePublic.of(state.summary, time.time()),
        health_at=state.health_at,
        health=state.health,
        aggregate=state.aggregate,
    )
