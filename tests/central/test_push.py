"""Config push from the store's pending plans to a real edge, and the edge's answer back into the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.errors import CentralError
from central.ingest import IngestServer
from central.push import ConfigPusher
from central.store import Store
from edge.messages import Health
from edge.publish import LinkSettings, Publisher
from edge.spool import Spool
from tests.central import factories
from tests.central.test_ingest import ImmediateTarget, wait_for


def _queue(store: Store, site: str, min_green: float) -> int:
    record = store.propose_plan(site, factories.signal(min_green=min_green).model_dump_json(), "ana", "retime")
    return store.queue_plan(site, record.version, "ana").version


def test_pending_plans_reach_the_edge_and_the_store_records_its_answers(tmp_path: Path, sqlite_store: Store) -> None:
    with IngestServer("tcp://127.0.0.1:*", sqlite_store, push_retry_s=0.3) as server:
        pusher = ConfigPusher(sqlite_store, server, poll_s=0.2)
        pusher.start()
        spool = Spool(tmp_path / "s.sqlite", site="site-p")
        target = ImmediateTarget(factories.signal())
        pub = Publisher(spool, LinkSettings(server.endpoint), plan_target=target)
        pub.start()
        try:
            pub.publish(Health(uptime_s=1.0))  # central learns the edge's connection
            wait_for(lambda: "site-p" in server.stats().sites)
            good = _queue(sqlite_store, "site-p", 9.0)  # found by the pusher's poll of the store
            wait_for(lambda: sqlite_store.plan("site-p", good).status == "applied")  # type: ignore[union-attr]
            assert target.current.phases[0].timings.min_green == 9.0

            bad = _queue(sqlite_store, "site-p", 3.0)  # below the edge's safety floor
            pusher.plan_queued(sqlite_store.plan("site-p", bad))  # type: ignore[arg-type]
            wait_for(lambda: sqlite_store.plan("site-p", bad).status == "refused")  # type: ignore[union-attr]
            refused = sqlite_store.plan("site-p", bad)
            assert refused is not None
            assert any("floor" in r for r in refused.reasons)
            assert target.current.phases[0].timings.min_green == 9.0, "a refused plan changes nothing"
            wait_for(lambda: server.pending_pushes() == {})
            assert sqlite_store.pending_pushes() == []
        finally:
            pub.stop()
            spool.close()
            pusher.stop()


def test_push_to_an_invalid_site_id_is_a_clear_error(sqlite_store: Store) -> None:
    from edge.messages import ConfigPush  # noqa: PLC0415

    with IngestServer("tcp://127.0.0.1:*", sqlite_store) as server:
        with pytest.raises(CentralError, match="not a valid site id"):
            server.push_config("no such site!", ConfigPush(version=1, signal=factories.signal()))
        assert server.pending_pushes() == {}
