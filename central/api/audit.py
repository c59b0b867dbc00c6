"""``/api/audit``: who changed what and when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from central.api.common import SITE_PATTERN
from central.auth import StoreDep, Viewer

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditPublic(BaseModel):
    """One audit log entry."""

    id: int
    ts: float = Field(description="When, Unix seconds.")
    actor: str = Field(description="Token name, or edge:SITE for acknowledgements.")
    action: str = Field(description="What: plan.proposed, plan.queued, plan.applied, token.created, ...")
    site: str | None
    detail: dict[str, Any]


@router.get("", summary="Audit log")
def audit_log(
    store: StoreDep,
    _: Viewer,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN, description="Only this site's entries.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62, description="Page: entries older than this id.")] = None,
) -> list[AuditPublic]:
    """Newest first; page backwards with ``before_id``."""
    return [
        AuditPublic(id=e.id, ts=e.ts, actor=e.actor, action=e.action, site=e.site, detail=e.detail)
        for e in store.audit_log(site, limit, before_id)
    ]
