"""Timing plans end to end over HTTP: API -> store -> ZeroMQ push -> real edge -> ConfigAck -> applied.

(``test_push.py`` covers the store-to-edge half on its own, refusals included.)

Central runs as ``simpang central run --zmq`` builds it (ingest server and config pusher in the
app's lifespan); the edge is the real :class:`edge.publish.Publisher` on a real spool, with a plan target
that applies at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from central.app import create_app
from central.auth import hash_token, new_token
from central.cli_link import link_services
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


def test_plan_applied_through_the_api_reaches_the_edge(sqlite_store: Store, tmp_path: Path) -> None:
    token = new_token()
    sqlite_store.add_token("eng", "engineer", hash_token(token))
    h = {"Authorization": f"Bearer {token}"}
    link = link_services(sqlite_store, "tcp://127.0.0.1:*", None)
    app = create_app(Settings(), sqlite_store, **link.app_kwargs())
    target = ApplyAtOnce()
    with TestClient(app) as client:
        ingest = link.ingest
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

            metrics = client.get("/metrics").text
            assert "simpang_ingest_messages_total" in metrics
            assert 'simpang_store_site_messages_total{site="s1"}' in metrics
        finally:
            pub.stop()
            spool.close()

