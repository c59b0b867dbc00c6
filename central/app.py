"""The central FastAPI application: ``create_app(settings, store)``.

No module-level app, settings or engine: the CLI (or a test) builds the settings and opens the
store once and passes them in; the lifespan starts and stops the background services (the
transport's ZeroMQ ingest and config push) given to the factory.

Example:
    >>> from central.store import open_store
    >>> app = create_app(Settings(), open_store("sqlite:///:memory:"))
    >>> app.title
    'Simpang central'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from central.api import audit, measures, plans, sites, tokens
from central.metrics import StoreCollector
from central.settings import Settings
from central.store.base import PlanRecord, Store

log = logging.getLogger(__name__)

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"

PlanListener = Callable[[PlanRecord], None]
"""Called (from a request thread) when a plan is queued for an edge, so the push side can send it
now instead of at its next poll of :meth:`central.store.base.Store.pending_pushes`."""


class Service(Protocol):
    """A background service the lifespan runs: the transport's ingest server, its config pusher."""

    def start(self) -> None:
        """Start serving (return promptly; run in own threads)."""
        ...

    def stop(self) -> None:
        """Stop serving and release sockets; idempotent."""
        ...


def create_app(
    settings: Settings,
    store: Store,
    *,
    services: Sequence[Service] = (),
    on_plan_queued: PlanListener | None = None,
    registries: Sequence[CollectorRegistry] = (REGISTRY,),
) -> FastAPI:
    """Build the central app around an open store.

    Args:
        settings: How this process runs.
        store: The open store; the caller owns it and closes it after the app stops.
        services: Started in order at startup, stopped in reverse at shutdown.
        on_plan_queued: Told about each plan queued for an edge.
        registries: Extra Prometheus registries exposed on ``/metrics`` besides the app's own
            (the default registry holds the transport's counters and the process metrics).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started: list[Service] = []
        try:
            for service in services:
                service.start()
                started.append(service)
            log.info("central serving (%d background service(s))", len(started))
            yield
        finally:
            for service in reversed(started):
                service.stop()

    app = FastAPI(
        title=settings.title,
        version="1",
        summary="Traffic measures, live status and timing plans of Simpang intersections.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.on_plan_queued = on_plan_queued
    app.state.services = tuple(services)

    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(store))
    requests = Counter(
        "simpang_http_requests", "HTTP requests by route and status.", ["method", "route", "status"], registry=registry
    )

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, not the raw path: label values stay bounded whatever clients send.
        template = getattr(route, "path", "unmatched")
        requests.labels(request.method, template, str(response.status_code)).inc()
        return response

    for module in (sites, measures, plans, audit, tokens):
        app.include_router(module.router)

    @app.get("/api/health", tags=["service"], summary="Liveness")
    def health() -> dict[str, str]:
        """Always ``ok`` while the process serves requests (no token needed)."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        """Ingest, per-site and HTTP metrics in the Prometheus text format."""
        body = generate_latest(registry) + b"".join(generate_latest(r) for r in registries if r is not registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    app.mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard")
    return app
