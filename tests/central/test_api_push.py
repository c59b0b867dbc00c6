"""Timing plans end to end: API -> store -> ZeroMQ push -> a real edge publisher -> ConfigAck -> applied.

Central runs as ``simpang central run`` builds it (ingest server and plan pusher in the app's
lifespan); the edge is the real :class:`edge.publish.Publisher` on a real spool, with a plan target
that applies at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from central.auth import hash_token, new_token
from central.cli import build_app
from central.ingest import IngestServer
from central.settings import Settings
from central.store import Store
from controller.config import SignalConfig
from edge.messages import ConfigAck, ConfigPush, Health
from edge.publish import LinkSettings, Publisher
from edge.spool import Spool
from tests.central.factories import signal


class ApplyAtOnce:
    """An edge controller that applies every valid plan immediately."""

    def __init__(self) -> None:
        self.signal: SignalConfig | None = None
        self.versions: list[int] = []

    def current_signal(self) -> SignalConfig | None:
        return self.signal

    def schedule_plan(self, push: ConfigPush, done: Callable[[ConfigAck], None]) -> None:
        self.signal = push.signal
        self.versions.append(push.version)
        done(ConfigAck(version=push.version, applied=True))


def _wait(client: TestClient, url: str, headers: dict[str, str], status: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        plan: dict[str, object] = client.get(url, headers=headers).json()
        if plan.get("status") == status:
            return plan
        assert time.monotonic() < deadline, f"plan stayed {plan.get('status')}"
        time.sleep(0.1)


def test_plan_reaches_edge_and_is_acknowledged(sqlite_store: Store, tmp_path: Path) -> None:
    token = new_token()
    sqlite_store.add_token("eng", "engineer", hash_token(token))
    h = {"Authorization": f"Bearer {token}"}
    app = build_app(Settings(zmq_endpoint="tcp://127.0.0.1:*"), sqlite_store)
    target = ApplyAtOnce()
    with TestClient(app) as client:
        (ingest,) = [s for s in app.state.services if isinstance(s, IngestServer)]
        spool = Spool(tmp_path / "spool.sqlite", site="s1")
        pub = Publisher(spool, LinkSettings(ingest.endpoint), plan_target=target)
        pub.start()
        try:
            pub.publish(Health(uptime_s=1.0, phase=[2]))
            assert pub.wait_drained(20.0)
            assert client.get("/api/sites/s1", headers=h).json()["health"]["phase"] == [2]

            assert client.post("/api/sites/s1/plans", json={"signal": signal().model_dump()}, headers=h).status_code == 201
            assert client.post("/api/sites/s1/plans/1/apply", headers=h).status_code == 202
            applied = _wait(client, "/api/sites/s1/plans/1", h, "applied")
            assert applied["applied_at"] is not None
            assert target.versions == [1]
            assert target.signal == signal()

            # The edge validates again: a structural change against its plan in force is refused.
            moved = signal().model_dump()
            moved["phases"][0]["movements"] = ["elsewhere"]
            # Central would refuse this too, so plant it in the store as a pending push directly.
            sqlite_store.propose_plan("s1", SignalConfig.model_validate(moved).model_dump_json(), "eng", "")
            record = sqlite_store.queue_plan("s1", 2, "eng")
            app.state.on_plan_queued(record)
            refused = _wait(client, "/api/sites/s1/plans/2", h, "refused")
            assert "served movements differ" in str(refused["reasons"])
            assert client.get("/api/sites/s1/plans/current", headers=h).json()["version"] == 1
            metrics = client.get("/metrics").text
            assert "simpang_ingest_messages_total" in metrics
            assert 'simpang_store_site_messages_total{site="s1"}' in metrics
        finally:
            pub.stop()
            spool.close()


def test_pending_plans_are_pushed_again_after_a_restart(sqlite_store: Store, tmp_path: Path) -> None:
    sqlite_store.propose_plan("s1", signal().model_dump_json(), "eng", "queued before the restart")
    sqlite_store.queue_plan("s1", 1, "eng")
    app = build_app(Settings(zmq_endpoint="tcp://127.0.0.1:*"), sqlite_store)
    target = ApplyAtOnce()
    with TestClient(app):
        (ingest,) = [s for s in app.state.services if isinstance(s, IngestServer)]
        spool = Spool(tmp_path / "spool.sqlite", site="s1")
        pub = Publisher(spool, LinkSettings(ingest.endpoint), plan_target=target)
        pub.start()
        try:
            pub.publish(Health(uptime_s=1.0))
            deadline = time.monotonic() + 30
            while (plan := sqlite_store.plan("s1", 1)) is None or plan.status != "applied":
                assert time.monotonic() < deadline, "the pending plan was not pushed after the restart"
                time.sleep(0.1)
            assert target.versions == [1]
        finally:
            pub.stop()
            spool.close()
