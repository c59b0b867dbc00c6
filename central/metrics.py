"""Prometheus metrics of the central service.

Store-derived series are computed at scrape time from the ``sites`` table, so they are right
whichever process (or how many PostgreSQL ingest workers) stored the messages:

* ``simpang_store_site_messages_total{site}`` - messages stored; ``rate()`` of it is the ingest rate
  across every ingest worker.
* ``simpang_store_site_last_seen_timestamp_seconds{site}`` - when central last stored a message from the site.
* ``simpang_store_site_lag_seconds{site}`` - how far behind the edge's newest stored message was created.
* ``simpang_plans_pending`` - timing plans waiting for an edge acknowledgement.

The ingest worker in this process (:class:`central.ingest.IngestServer`) counts stored, duplicate
and rejected frames, commit time and per-site last-seen/lag in its own registry (``simpang_ingest_*``,
``simpang_site_*``); ``/metrics`` exposes every registry the app was given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from central.errors import StoreError
from central.store.base import Store

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    """Per-site series read from the store at each scrape.

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> from central.store import open_store
        >>> registry = CollectorRegistry()
        >>> registry.register(StoreCollector(open_store("sqlite:///:memory:")))
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        stored = CounterMetricFamily("simpang_store_site_messages", "Messages stored per site (all ingest workers).", labels=["site"])
        seen = GaugeMetricFamily(
            "simpang_store_site_last_seen_timestamp_seconds", "When central last stored a message from the site.", labels=["site"]
        )
        lag = GaugeMetricFamily(
            "simpang_store_site_lag_seconds", "Age of the site's newest stored message when it was stored.", labels=["site"]
        )
        pending = GaugeMetricFamily("simpang_plans_pending", "Timing plans waiting for the edge's acknowledgement.")
        try:
            sites = self._store.sites()
            pending.add_metric([], len(self._store.pending_pushes()))
        except StoreError as err:
            # A scrape must not fail because the database is briefly unavailable; say so instead.
            log.warning("metrics scrape could not read the store: %s", err)
            return
        for s in sites:
            stored.add_metric([s.site], s.messages)
            seen.add_metric([s.site], s.last_seen)
            lag.add_metric([s.site], max(0.0, s.last_seen - s.last_sent_at))
        yield from (stored, seen, lag, pending)
