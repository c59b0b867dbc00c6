"""Central ingest end to end: real publisher, real ROUTER, real stores, loopback sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import zmq
from prometheus_client import generate_latest

from central.errors import StoreError
from central.ingest import IngestServer
from central.store import Store, open_store
from central.store.sql import PendingIngest
from central.store.sqlite import SqliteStore
from controller.config import SignalConfig
from edge.link import ACK, DATA, decode_ack
from edge.messages import ConfigAck, ConfigPush, Health, encode
from edge.publish import LinkSettings, Publisher
from edge.spool import Spool
from edge.wirefast import WireEnvelope
from tests.central import factories


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``cond`` until it holds; fail the test if it does not in time."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def stored_seqs(store: Store, site: str) -> list[int]:
    """Every stored seq of a site, in order (each kind, all time)."""
    seqs: list[int] = []
    for kind in ("aggregate", "health", "events", "config_ack"):
        seqs += [m.seq for m in store.messages(site, kind, 0.0, 1e12, 1_000_000)]
    return sorted(seqs)


@pytest.fixture
def server(sqlite_store: Store) -> Iterator[IngestServer]:
    with IngestServer("tcp://127.0.0.1:*", sqlite_store) as s:
        yield s


@pytest.fixture
def publisher(tmp_path: Path, server: IngestServer) -> Iterator[Publisher]:
    spool = Spool(tmp_path / "edge-spool.sqlite", site="site-a")
    pub = Publisher(spool, LinkSettings(server.endpoint, batch=200))
    pub.start()
    yield pub
    pub.stop()
    spool.close()


def test_every_message_is_stored_once_and_acknowledged(
    server: IngestServer, publisher: Publisher, sqlite_store: Store
) -> None:
    seqs = publisher.publish_many([factories.aggregate("site-a", 0, 1.7e9 + 15 * i).body for i in range(3000)])
    seqs += publisher.publish_many([Health(uptime_s=1.0)])
    assert publisher.wait_drained(20.0)
    assert stored_seqs(sqlite_store, "site-a") == seqs == list(range(1, 3002))
    stats = server.stats()
    assert stats.stored == 3001
    assert stats.sites["site-a"].last_seq == 3001
    assert stats.sites["site-a"].last_seen > 0
    metrics = generate_latest(server.registry).decode()
    assert 'simpang_ingest_messages_total{kind="aggregate"} 3000.0' in metrics
    assert 'simpang_site_last_seen_seconds{site="site-a"}' in metrics


def _dealer(ctx: zmq.Context[Any], endpoint: str) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def _recv_ack(sock: zmq.Socket[Any]) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
    assert sock.poll(5000), "no ack"
    kind, payload = sock.recv_multipart()
    assert kind == ACK
    return decode_ack(payload)


def test_resent_messages_are_acknowledged_but_not_stored_twice(server: IngestServer, sqlite_store: Store) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = _dealer(ctx, server.endpoint)
        frames = [encode(factories.health("site-b", seq, 1.7e9 + seq)) for seq in (1, 2, 3)]
        sock.send_multipart([DATA, *frames])
        assert _recv_ack(sock) == ([(1, 3)], [])
        sock.send_multipart([DATA, frames[1], frames[2], encode(factories.health("site-b", 4, 1.7e9))])
        assert _recv_ack(sock) == ([(2, 4)], [])
        assert stored_seqs(sqlite_store, "site-b") == [1, 2, 3, 4]
        assert (server.stats().stored, server.stats().duplicates) == (4, 2)
    finally:
        ctx.destroy(linger=0)


def test_wrong_version_is_refused_by_seq_and_valid_neighbours_pass(server: IngestServer) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = _dealer(ctx, server.endpoint)
        newer = encode(factories.health("site-c", 2, 1.7e9)).replace(b'"v":1', b'"v":2')
        sock.send_multipart([DATA, encode(factories.health("site-c", 1, 1.7e9)), newer])
        assert _recv_ack(sock) == ([(1, 1)], [(2, "wrong_version")])
        assert server.stats().rejected == {"wrong_version": 1}
    finally:
        ctx.destroy(linger=0)


class FlakyStore:
    """A real store that fails its first ``failures`` commits, as a database restart would."""

    def __init__(self, inner: Store, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def ingest(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("database is restarting")
        return self.inner.ingest(envelopes, frames)


class FailingCommit:
    """A written batch whose commit fails, as a full disk or a lost connection would make it."""

    def __init__(self, pending: PendingIngest) -> None:
        self.pending = pending

    def commit(self) -> int:
        self.pending.rollback()
        raise StoreError("disk full")


class FlakyCommitStore:
    """A real store written in two phases whose first ``failures`` commits fail in the committer thread."""

    background_commit = True

    def __init__(self, inner: SqliteStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.committed_in: set[str] = set()

    def ingest(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> int:
        return self.inner.ingest(envelopes, frames)

    def ingest_begin(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> FailingCommit | Committing:
        pending = self.inner.ingest_begin(envelopes, frames)
        if self.failures > 0:
            self.failures -= 1
            return FailingCommit(pending)
        return Committing(pending, self.committed_in)


class Committing:
    """Commits, noting the thread it ran in."""

    def __init__(self, pending: PendingIngest, threads: set[str]) -> None:
        self.pending, self.threads = pending, threads

    def commit(self) -> int:
        self.threads.add(threading.current_thread().name)
        return self.pending.commit()


@pytest.mark.parametrize("in_committer", [False, True], ids=["store-call", "committer-thread"])
def test_store_failure_leaves_the_batch_unacked_until_a_resend_succeeds(
    tmp_path: Path, sqlite_store: Store, *, in_committer: bool
) -> None:
    assert isinstance(sqlite_store, SqliteStore)
    store = FlakyCommitStore(sqlite_store, failures=2) if in_committer else FlakyStore(sqlite_store, failures=2)
    with IngestServer("tcp://127.0.0.1:*", store) as server:
        spool = Spool(tmp_path / "s.sqlite", site="site-d")
        pub = Publisher(spool, LinkSettings(server.endpoint, ack_timeout_s=0.5))
        pub.start()
        try:
            pub.publish_many([Health(uptime_s=float(i)) for i in range(50)])
            assert pub.wait_drained(15.0)
            assert stored_seqs(sqlite_store, "site-d") == list(range(1, 51))
            assert pub.stats().resends >= 50
            assert "simpang_ingest_store_errors_total 2.0" in generate_latest(server.registry).decode()
            if isinstance(store, FlakyCommitStore):  # the commits really ran in the committer thread
                assert store.committed_in
                assert all(name.startswith("simpang.commit") for name in store.committed_in)
        finally:
            pub.stop()
            spool.close()


class ImmediateTarget:
    """An edge runtime whose safe boundary is now."""

    def __init__(self, current: SignalConfig) -> None:
        self.current = current

    def current_signal(self) -> SignalConfig | None:
        return self.current

    def schedule_plan(self, push: ConfigPush, done: Callable[[ConfigAck], None]) -> None:
        self.current = push.signal
        done(ConfigAck(version=push.version, applied=True))


def test_config_push_reaches_the_edge_and_its_ack_comes_back(tmp_path: Path, sqlite_store: Store) -> None:
    acks: list[tuple[str, ConfigAck]] = []
    with IngestServer("tcp://127.0.0.1:*", sqlite_store, on_config_ack=lambda s, a: acks.append((s, a)),
                      push_retry_s=0.3) as server:
        spool = Spool(tmp_path / "s.sqlite", site="site-e")
        target = ImmediateTarget(factories.signal())
        pub = Publisher(spool, LinkSettings(server.endpoint), plan_target=target)
        pub.start()
        try:
            server.push_config("site-e", ConfigPush(version=3, signal=factories.signal(min_green=9.0), author="ana"))
            pub.publish(Health(uptime_s=1.0))  # the push waits until central has heard from the edge
            wait_for(lambda: bool(acks))
            assert acks == [("site-e", ConfigAck(version=3, applied=True))]
            assert target.current.phases[0].timings.min_green == 9.0
            wait_for(lambda: server.pending_pushes() == {})
        finally:
            pub.stop()
            spool.close()


def test_two_ingest_workers_share_one_postgresql_store(tmp_path: Path, pg_url: str) -> None:
    from tests.central.conftest import empty_pg  # noqa: PLC0415 - PostgreSQL-only helper

    empty_pg(pg_url)
    stores = [open_store(pg_url), open_store(pg_url)]
    servers = [IngestServer("tcp://127.0.0.1:*", s) for s in stores]
    for s in servers:
        s.start()
    pubs: list[Publisher] = []
    try:
        for i, server in enumerate(servers):
            spool = Spool(tmp_path / f"s{i}.sqlite", site=f"site-{i}")
            pubs.append(Publisher(spool, LinkSettings(server.endpoint)))
            pubs[-1].start()
            pubs[-1].publish_many([Health(uptime_s=float(n)) for n in range(500)])
        for pub in pubs:
            assert pub.wait_drained(20.0)
        # An edge that fails over: what it sent to one worker arrives again through the other.
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            frames = [encode(factories.health("site-2", seq, 1.7e9 + seq)) for seq in range(1, 101)]
            first, second = _dealer(ctx, servers[0].endpoint), _dealer(ctx, servers[1].endpoint)
            first.send_multipart([DATA, *frames[:60]])
            assert _recv_ack(first) == ([(1, 60)], [])
            second.send_multipart([DATA, *frames])
            assert _recv_ack(second) == ([(1, 100)], [])
        finally:
            ctx.destroy(linger=0)
        assert stored_seqs(stores[0], "site-0") == list(range(1, 501))
        assert stored_seqs(stores[0], "site-1") == list(range(1, 501))
        assert stored_seqs(stores[1], "site-2") == list(range(1, 101))
        assert servers[1].stats().duplicates == 60
    finally:
        for pub in pubs:
            pub.stop()
            pub.spool.close()
        for s in servers:
            s.stop()
        for st in stores:
            st.close()


def test_bind_failure_is_a_clear_error(server: IngestServer, sqlite_store: Store) -> None:
    from central.errors import CentralError  # noqa: PLC0415

    with pytest.raises(CentralError, match="cannot listen for edges"):
        IngestServer(server.endpoint, sqlite_store).start()


class PickyStore:
    """A real store that refuses the content of one message, as PostgreSQL refuses a NUL character."""

    def __init__(self, inner: Store, refuse_seq: int) -> None:
        self.inner = inner
        self.refuse_seq = refuse_seq
        self.calls = 0

    def ingest(self, envelopes: Sequence[WireEnvelope], frames: Sequence[bytes] | None = None) -> int:
        self.calls += 1
        if any(e.seq == self.refuse_seq for e in envelopes):
            raise ValueError(f"cannot store message {self.refuse_seq}")
        return self.inner.ingest(envelopes, frames)


def test_a_message_the_store_refuses_is_isolated_and_the_rest_stored(sqlite_store: Store) -> None:
    store = PickyStore(sqlite_store, refuse_seq=3)
    with IngestServer("tcp://127.0.0.1:*", store) as server:
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            sock = _dealer(ctx, server.endpoint)
            frames = [encode(factories.health("site-f", seq, 1.7e9)) for seq in range(1, 9)]
            sock.send_multipart([DATA, *frames])
            assert _recv_ack(sock) == ([(1, 2), (4, 8)], [(3, "store_refused")])
            assert stored_seqs(sqlite_store, "site-f") == [1, 2, 4, 5, 6, 7, 8]
            assert server.stats().rejected == {"store_refused": 1}
            assert store.calls <= 1 + 2 * 3, "halving finds one culprit among 8 in O(log n) commits"
            sock.send_multipart([DATA, encode(factories.health("site-f", 9, 1.7e9))])
            assert _recv_ack(sock) == ([(9, 9)], [])
        finally:
            ctx.destroy(linger=0)


def test_a_site_id_with_a_nul_is_refused_alone_and_the_rest_stored(store_url: str) -> None:
    """PostgreSQL cannot store NUL characters; the wire refuses such site ids (as site files do), so
    one such message is refused on its own and neither stops ingest nor holds back its neighbours.
    (The ingest still isolates any message a store refuses: see ``_store_isolating``.)"""
    store = open_store(store_url)
    try:
        with IngestServer("tcp://127.0.0.1:*", store) as server:
            ctx: zmq.Context[Any] = zmq.Context()
            try:
                sock = _dealer(ctx, server.endpoint)
                poisoned = encode(factories.health("site-f", 3, 1.7e9)).replace(
                    b'"site":"site-f"', b'"site":"site-f\\u0000x"'
                )
                frames = [encode(factories.health("site-f", seq, 1.7e9)) for seq in (1, 2, 4, 5)]
                sock.send_multipart([DATA, *frames[:2], poisoned, *frames[2:]])
                acked, refused = _recv_ack(sock)
                assert (acked, refused) == ([(1, 2), (4, 5)], [(3, "invalid")])
                assert server.stats().rejected == {"invalid": 1}
                assert stored_seqs(store, "site-f") == [1, 2, 4, 5]
                sock.send_multipart([DATA, encode(factories.health("site-f", 6, 1.7e9))])
                assert _recv_ack(sock) == ([(6, 6)], [])
            finally:
                ctx.destroy(linger=0)
    finally:
        store.close()
