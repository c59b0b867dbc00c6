"""``/api/sites/{site}/plans``: read, propose, apply and roll back timing plans.

A proposal is validated twice before it is stored: by :class:`controller.config.SignalConfig`
(structure: phases, conflicts, stages) and by :func:`controller.rules.plan_problems` (safety
floors, and no change of structure against the plan in force). A refused proposal gets 422 with
every reason. Applying queues the plan for the push transport; the edge validates it again and
its ``ConfigAck`` marks it applied or refused.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from central.api.common import KnownSite, SiteId
from central.auth import Engineer, StoreDep, Viewer
from central.errors import PlanStateError
from central.store.base import PlanRecord, PlanStatus, Store
from controller.config import SignalConfig
from controller.rules import plan_problems

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/sites/{site}/plans", tags=["plans"])

Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="Plan version.")]


class PlanCreate(BaseModel):
    """A proposed timing plan."""

    model_config = ConfigDict(extra="forbid")

    signal: SignalConfig = Field(description="Phases with NTCIP 1202 timings, conflicts and stages.")
    note: str = Field("", max_length=500, description="Why (for the audit log): 'PM peak retime'.")


class PlanPublic(BaseModel):
    """A timing plan version as the API shows it."""

    site: str
    version: int
    status: PlanStatus = Field(description="proposed, pending (queued for the edge), applied, refused or superseded.")
    signal: SignalConfig
    author: str
    note: str
    created_at: float
    updated_at: float
    applied_at: float | None = Field(description="When the edge acknowledged applying it.")
    reasons: list[str] = Field(description="Why the edge refused it, if it did.")

    @classmethod
    def of(cls, p: PlanRecord) -> PlanPublic:
        """From the store's record."""
        return cls(
            site=p.site, version=p.version, status=p.status, signal=SignalConfig.model_validate_json(p.signal_json),
            author=p.author, note=p.note, created_at=p.created_at, updated_at=p.updated_at, applied_at=p.applied_at,
            reasons=list(p.reasons),
        )


class PlanRefused(BaseModel):
    """Why a proposal was refused."""

    message: str
    reasons: list[str]


def _applied(store: Store, site: str) -> PlanRecord | None:
    return next((p for p in store.plans(site) if p.status == "applied"), None)


def _notify(request: Request, record: PlanRecord) -> None:
    listener = request.app.state.on_plan_queued
    if listener is not None:
        listener(record)


@router.get("", summary="List plan versions")
def list_plans(site: SiteId, store: StoreDep, _: Viewer) -> list[PlanPublic]:
    """Every plan version of the site, newest first."""
    return [PlanPublic.of(p) for p in store.plans(site)]


@router.get("/current", summary="The plan in force")
def current_plan(site: SiteId, store: StoreDep, _: Viewer) -> PlanPublic:
    """The plan the edge last acknowledged applying."""
    plan = _applied(store, site)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site!r} has no applied plan")
    return PlanPublic.of(plan)


@router.get("/{version}", summary="One plan version")
def get_plan(site: SiteId, version: Version, store: StoreDep, _: Viewer) -> PlanPublic:
    """One plan version."""
    plan = store.plan(site, version)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site!r} has no plan v{version}")
    return PlanPublic.of(plan)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Propose a plan",
    responses={422: {"model": PlanRefused, "description": "Refused by the safety rules, with every reason."}},
)
def propose_plan(site: KnownSite, body: PlanCreate, store: StoreDep, who: Engineer) -> PlanPublic:
    """Validate a plan against the safety rules and store it as the next version (not yet applied)."""
    current = _applied(store, site.site)
    reasons = plan_problems(body.signal, SignalConfig.model_validate_json(current.signal_json) if current else None)
    if reasons:
        store.audit(who.name, "plan.refused_proposal", site.site, {"reasons": reasons, "note": body.note})
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, PlanRefused(message="timing plan refused", reasons=reasons).model_dump()
        )
    return PlanPublic.of(store.propose_plan(site.site, body.signal.model_dump_json(), who.name, body.note))


@router.post("/{version}/apply", status_code=status.HTTP_202_ACCEPTED, summary="Apply a proposed plan")
def apply_plan(site: KnownSite, version: Version, request: Request, store: StoreDep, who: Engineer) -> PlanPublic:
    """Queue a proposed plan for the edge; it becomes applied when the edge acknowledges it."""
    try:
        record = store.queue_plan(site.site, version, who.name)
    except PlanStateError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    _notify(request, record)
    return PlanPublic.of(record)


@router.post("/rollback", status_code=status.HTTP_202_ACCEPTED, summary="Roll back to the previous plan")
def rollback_plan(site: KnownSite, request: Request, store: StoreDep, who: Engineer) -> PlanPublic:
    """Queue, as a new version, the plan that was in force before the current one."""
    try:
        record = store.rollback_plan(site.site, who.name)
    except PlanStateError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    _notify(request, record)
    return PlanPublic.of(record)
