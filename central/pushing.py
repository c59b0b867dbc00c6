"""Handing queued timing plans to the ZeroMQ side, so the edges get them.

The store is the source of truth for what must be pushed (:meth:`Store.pending_pushes`); the
ingest server sends a push again and again until the edge answers, and the edge's ``ConfigAck``
goes through ``Store.ingest``, which marks the plan applied or refused. :class:`PlanPusher` glues
the two: at startup it hands over every plan still pending (central may have restarted since the
engineer applied it), and afterwards the app calls it for each plan queued.

Example:
    >>> from central.store import open_store
    >>> sent = []
    >>> class Link:
    ...     def push_config(self, site, push): sent.append((site, push.version))
    >>> pusher = PlanPusher(open_store("sqlite:///:memory:"), Link())
    >>> pusher.start(); sent
    []
"""

from __future__ import annotations

import logging
from typing import Protocol

from central.store.base import PlanRecord, Store
from edge.messages import ConfigPush

log = logging.getLogger(__name__)


class PushLink(Protocol):
    """What sends a push to an edge (:class:`central.ingest.IngestServer` is one)."""

    def push_config(self, site: str, push: ConfigPush) -> None:
        """Send ``push`` to ``site`` until it answers; a newer push replaces an older one."""
        ...


class PlanPusher:
    """A lifespan service and a plan listener: pending plans from the store go to the link."""

    def __init__(self, store: Store, link: PushLink) -> None:
        self._store = store
        self._link = link

    def start(self) -> None:
        """Hand over every plan still waiting for its acknowledgement (newest per site wins)."""
        for record in self._store.pending_pushes():
            self(record)

    def stop(self) -> None:
        """Nothing to release: the link is stopped by its own service."""

    def __call__(self, record: PlanRecord) -> None:
        """Push one queued plan."""
        log.info("pushing plan v%d to %s", record.version, record.site)
        self._link.push_config(record.site, record.push())
