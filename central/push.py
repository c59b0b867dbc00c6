"""Config push: send each queued timing plan to its edge until the edge answers.

The store holds the truth: a plan an engineer applies is ``pending`` there until the edge's
:class:`~edge.messages.ConfigAck` comes back on the data path and the store marks it ``applied``
or ``refused``. :class:`ConfigPusher` is the background service that turns that state into
messages: it hands each pending plan to the :class:`~central.ingest.IngestServer`, which sends it
over the edge's own connection and repeats it until the ack arrives. The pusher re-reads the
pending plans every ``poll_s`` (so a restart of central loses nothing) and is told at once about
new ones through :meth:`ConfigPusher.plan_queued` (the app's ``on_plan_queued`` hook).

Example:
    >>> pusher = ConfigPusher(store, ingest)   # doctest: +SKIP
    >>> app = create_app(settings, store, services=[ingest, pusher], on_plan_queued=pusher.plan_queued)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from pydantic import ValidationError

from central.errors import StoreError
from central.ingest import IngestServer
from central.store.base import PlanRecord

log = logging.getLogger(__name__)


class PendingPlans(Protocol):
    """The part of the store the pusher reads."""

    def pending_pushes(self) -> list[PlanRecord]:
        """Plans waiting for the edge's acknowledgement, oldest first."""
        ...


class ConfigPusher:
    """Keeps every pending plan on its way to its edge (a service with ``start``/``stop``).

    Args:
        store: where pending plans are read from.
        ingest: the ingest server whose connections reach the edges.
        poll_s: how often the store is re-read.
    """

    def __init__(self, store: PendingPlans, ingest: IngestServer, poll_s: float = 2.0) -> None:
        self.store = store
        self.ingest = ingest
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def plan_queued(self, record: PlanRecord) -> None:
        """Send a plan now (called when an engineer applies or rolls back)."""
        self._send(record)

    def sync(self) -> int:
        """Hand every pending plan that is not on its way yet to ingest; return how many."""
        try:
            records = self.store.pending_pushes()
        except StoreError as err:
            log.error("cannot read pending plans; retrying in %.0f s: %s", self.poll_s, err)
            return 0
        on_the_way = self.ingest.pending_pushes()
        sent = 0
        for record in records:
            if on_the_way.get(record.site) != record.version:
                sent += self._send(record)
        return sent

    def _send(self, record: PlanRecord) -> int:
        try:
            push = record.push()
        except ValidationError as err:
            log.error("plan %s v%d is not a valid push and cannot be sent: %s", record.site, record.version, err)
            return 0
        self.ingest.push_config(record.site, push)
        return 1

    def start(self) -> None:
        """Start re-reading the store every ``poll_s``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="simpang.push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.sync()
            if self._stop.wait(self.poll_s):
                return

    def stop(self) -> None:
        """Stop the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
