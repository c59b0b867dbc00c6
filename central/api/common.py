"""Parameters and helpers shared by the routers: site ids, time ranges, CSV responses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, Response, status

from central.auth import StoreDep
from central.settings import Settings
from central.store.base import SiteSummary

#: Site ids as site files and wire messages allow them.
SITE_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"

SiteId = Annotated[str, Path(description="Site id.", pattern=SITE_PATTERN)]


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def known_site(site: SiteId, store: StoreDep) -> SiteSummary:
    """The site's summary, or 404 if it never sent anything."""
    for s in store.sites():
        if s.site == site:
            return s
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown site {site!r}")


KnownSite = Annotated[SiteSummary, Depends(known_site)]


def _utc(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range ``[start, end)`` in Unix seconds."""

    start: float
    end: float


def time_range(
    settings: SettingsDep,
    start: Annotated[datetime, Query(description="Range start, ISO 8601 (UTC if no offset is given) or Unix seconds.")],
    end: Annotated[datetime, Query(description="Range end (exclusive), ISO 8601 or Unix seconds.")],
) -> TimeRange:
    """Validate a requested range: ordered and not longer than the configured maximum."""
    try:
        a, b = _utc(start), _utc(end)
    except (OverflowError, OSError, ValueError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start or end is out of range") from None
    if b <= a:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")
    if b - a > settings.max_range_s:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the range spans {b - a:.0f} s; at most {settings.max_range_s:.0f} s per request",
        )
    return TimeRange(a, b)


Range = Annotated[TimeRange, Depends(time_range)]

CSV_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv."}
}


def csv_response(text: str, filename: str) -> Response:
    """A CSV download."""
    return Response(
        text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
