"""The edge publisher: its send window (pure) and its link loop against a real ROUTER socket."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from controller.config import SignalConfig
from edge.errors import LinkError
from edge.link import ACK, DATA, PUSH, decode_ack, encode_ack, ranges
from edge.messages import ConfigAck, ConfigPush, Envelope, Health, decode, encode
from edge.publish import LinkSettings, Publisher, SendWindow
from edge.spool import Spool
from tests.central.factories import signal


@pytest.mark.parametrize(
    ("seqs", "expected"),
    [([], []), ([3], [[3, 3]]), ([1, 2, 3], [[1, 3]]), ([9, 1, 2, 5, 4, 2], [[1, 2], [4, 5], [9, 9]])],
)
def test_ranges_compress_seqs(seqs: list[int], expected: list[list[int]]) -> None:
    assert ranges(seqs) == expected


def test_ack_payload_round_trips() -> None:
    assert decode_ack(encode_ack([4, 5, 6, 9], [(7, "wrong_version")])) == ([(4, 6), (9, 9)], [(7, "wrong_version")])


def test_window_limits_in_flight_and_frees_room_on_ack() -> None:
    w = SendWindow(max_in_flight=4, ack_timeout_s=1.0)
    w.sent([1, 2, 3, 4], now=0.0)
    assert (w.room(), w.cursor) == (0, 4)
    assert w.acked([(2, 3), (10, 20)], now=0.1) == 2
    assert (w.room(), w.in_flight) == (2, 2)
    w.rejected([1], now=0.2)
    assert w.in_flight == 1


@pytest.mark.parametrize(
    ("ack_at", "check_at", "expired"),
    [(None, 0.9, False), (None, 1.1, True), (0.8, 1.5, False), (0.8, 1.9, True)],
)
def test_window_expires_after_silence(ack_at: float | None, check_at: float, expired: bool) -> None:
    w = SendWindow(max_in_flight=10, ack_timeout_s=1.0)
    w.sent([1, 2], now=0.0)
    if ack_at is not None:
        w.acked([(1, 1)], now=ack_at)
    assert w.expired(check_at) is expired


def test_window_reset_rewinds_to_resend_everything() -> None:
    w = SendWindow(max_in_flight=10, ack_timeout_s=1.0)
    w.sent([1, 2, 3], now=0.0)
    w.reset()
    assert (w.cursor, w.in_flight, w.expired(100.0)) == (0, 0, False)


def test_big_ack_range_over_small_window_is_cheap() -> None:
    w = SendWindow(max_in_flight=10, ack_timeout_s=1.0)
    w.sent([5, 6], now=0.0)
    assert w.acked([(1, 10**12)], now=0.1) == 2


# -- the link loop against a hand-driven ROUTER ------------------------------------------------


class FakeCentral:
    """A bare ROUTER on a random loopback port that the test drives by hand."""

    def __init__(self, ctx: zmq.Context[Any]) -> None:
        self.sock: zmq.Socket[Any] = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def recv_data(self, timeout_s: float = 5.0) -> tuple[bytes, list[Envelope]]:
        assert self.sock.poll(int(timeout_s * 1000)), "no DATA from the publisher"
        identity, kind, *frames = self.sock.recv_multipart()
        assert kind == DATA
        return identity, [decode(line) for f in frames for line in f.split(b"\n")]

    def recv_all(self, want: int, timeout_s: float = 5.0) -> tuple[bytes, list[Envelope]]:
        got: list[Envelope] = []
        identity = b""
        deadline = time.monotonic() + timeout_s
        while len(got) < want:
            identity, envs = self.recv_data(max(0.01, deadline - time.monotonic()))
            got.extend(envs)
        return identity, got

    def ack(self, identity: bytes, seqs: list[int], rejected: list[tuple[int, str]] | None = None) -> None:
        self.sock.send_multipart([identity, ACK, encode_ack(seqs, rejected or [])])


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    c: zmq.Context[Any] = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def central(ctx: zmq.Context[Any]) -> FakeCentral:
    return FakeCentral(ctx)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.sqlite", site="site-a")
    yield s
    s.close()


def _wait(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_publisher_sends_spooled_messages_and_deletes_only_acked(spool: Spool, central: FakeCentral) -> None:
    pub = Publisher(spool, LinkSettings(central.endpoint, batch=4))
    pub.start()
    try:
        seqs = pub.publish_many([Health(uptime_s=float(i)) for i in range(10)])
        identity, envs = central.recv_all(10)
        assert [e.seq for e in envs] == seqs == list(range(1, 11))
        assert all(e.site == "site-a" for e in envs)
        central.ack(identity, [1, 2, 3, 7])
        _wait(lambda: spool.depth == 6)
        assert [s for s, _ in spool.pending()] == [4, 5, 6, 8, 9, 10]
    finally:
        pub.stop()


def test_unacked_messages_are_resent_after_the_ack_timeout(spool: Spool, central: FakeCentral) -> None:
    pub = Publisher(spool, LinkSettings(central.endpoint, ack_timeout_s=0.3))
    pub.start()
    try:
        pub.publish_many([Health(uptime_s=1.0), Health(uptime_s=2.0)])
        identity, first = central.recv_all(2)
        central.ack(identity, [1])
        identity, again = central.recv_data(timeout_s=3.0)  # seq 2 was never acked: it comes back
        assert [e.seq for e in again] == [2]
        assert again[0] == first[1]
        central.ack(identity, [2])
        _wait(lambda: spool.depth == 0)
        assert pub.stats().resends >= 1
    finally:
        pub.stop()


def test_messages_published_while_central_is_down_arrive_when_it_comes_up(
    spool: Spool, ctx: zmq.Context[Any]
) -> None:
    probe = FakeCentral(ctx)
    endpoint = probe.endpoint
    probe.sock.close()  # central is down; the port is free
    pub = Publisher(spool, LinkSettings(endpoint))
    pub.start()
    try:
        pub.publish_many([Health(uptime_s=float(i)) for i in range(5)])
        time.sleep(0.3)
        assert spool.depth == 5
        sock: zmq.Socket[Any] = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoint)
        late = FakeCentral.__new__(FakeCentral)
        late.sock, late.endpoint = sock, endpoint
        identity, envs = late.recv_all(5, timeout_s=10.0)
        assert sorted({e.seq for e in envs}) == [1, 2, 3, 4, 5]
        late.ack(identity, [1, 2, 3, 4, 5])
        _wait(lambda: spool.depth == 0)
    finally:
        pub.stop()


def test_rejected_messages_stay_spooled(spool: Spool, central: FakeCentral) -> None:
    pub = Publisher(spool, LinkSettings(central.endpoint))
    pub.start()
    try:
        pub.publish_many([Health(uptime_s=1.0), Health(uptime_s=2.0)])
        identity, _ = central.recv_all(2)
        central.ack(identity, [2], rejected=[(1, "wrong_version")])
        _wait(lambda: pub.stats().rejected == 1)
        assert [s for s, _ in spool.pending()] == [1]
    finally:
        pub.stop()


class Target:
    """A plan target that applies at once (a count-only runtime would refuse instead)."""

    def __init__(self, current: SignalConfig) -> None:
        self.current = current
        self.applied: list[int] = []

    def current_signal(self) -> SignalConfig | None:
        return self.current

    def schedule_plan(self, push: ConfigPush, done: Callable[[ConfigAck], None]) -> None:
        self.current = push.signal
        self.applied.append(push.version)
        done(ConfigAck(version=push.version, applied=True))


def _push(central: FakeCentral, identity: bytes, version: int, sig: SignalConfig, site: str = "site-a") -> None:
    env = Envelope(site=site, seq=version, sent_at=0.0, body=ConfigPush(version=version, signal=sig, author="eng"))
    central.sock.send_multipart([identity, PUSH, encode(env)])


@pytest.mark.parametrize(
    ("sig", "target", "applied", "reason"),
    [
        (signal(min_green=10.0), True, True, None),
        (signal(min_green=2.0), True, False, "below the 5 s floor"),
        (signal(min_green=10.0), False, False, "no signal controller"),
    ],
)
def test_config_push_is_validated_applied_and_acknowledged(
    spool: Spool, central: FakeCentral, *, sig: SignalConfig, target: bool, applied: bool, reason: str | None
) -> None:
    runtime = Target(signal()) if target else None
    pub = Publisher(spool, LinkSettings(central.endpoint), plan_target=runtime)
    pub.start()
    try:
        pub.publish(Health(uptime_s=1.0))  # the edge speaks first; central learns its identity
        identity, _ = central.recv_all(1)
        central.ack(identity, [1])
        _push(central, identity, 7, sig)
        _push(central, identity, 7, sig)  # central resends until it sees the ack: answered once
        _push(central, identity, 8, sig, site="other-site")  # not ours: ignored
        _, envs = central.recv_all(1)
        ack = envs[0].body
        assert isinstance(ack, ConfigAck)
        assert (ack.version, ack.applied) == (7, applied)
        if reason is not None:
            assert any(reason in r for r in ack.reasons)
        if runtime is not None:
            assert runtime.applied == ([7] if applied else [])
        assert not central.sock.poll(300), "a duplicate push must not produce a second ack"
    finally:
        pub.stop()


def test_publisher_ignores_garbage_from_central(spool: Spool, central: FakeCentral) -> None:
    pub = Publisher(spool, LinkSettings(central.endpoint))
    pub.start()
    try:
        pub.publish(Health(uptime_s=1.0))
        identity, _ = central.recv_all(1)
        central.sock.send_multipart([identity, b"??"])
        central.sock.send_multipart([identity, ACK, b"not json"])
        central.sock.send_multipart([identity, PUSH, b"{}"])
        central.sock.send_multipart([identity, ACK, json.dumps({"acked": [[1, 1]]}).encode()])
        _wait(lambda: spool.depth == 0)
    finally:
        pub.stop()


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (LinkSettings("tcp://127.0.0.1:1", server_public_key="x" * 40), "client_key_file is not"),
        (LinkSettings("tcp://127.0.0.1:1", server_public_key="short", client_key_file="k"), "40-character"),
        (LinkSettings("tcp://127.0.0.1:1", server_public_key="rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                      client_key_file="/nonexistent/key_secret"), "key file not found"),
    ],
)
def test_bad_keys_are_a_clear_error(spool: Spool, settings: LinkSettings, match: str) -> None:
    with pytest.raises(LinkError, match=match):
        Publisher(spool, settings)


def test_window_splits_runs_on_partial_acks_and_records_each_latency() -> None:
    w = SendWindow(max_in_flight=100, ack_timeout_s=1.0)
    w.sent_run(1, 10, now=0.0)
    w.sent_run(11, 20, now=1.0)
    assert w.acked([(5, 12)], now=2.0) == 8
    assert sorted(w.latencies) == [1.0, 1.0] + [2.0] * 6
    assert (w.in_flight, w.cursor) == (12, 20)
    w.rejected([1, 2, 20], now=2.5)
    assert w.in_flight == 9
    assert w.acked([(1, 100)], now=3.0) == 9
    assert (w.in_flight, w.room()) == (0, 100)
