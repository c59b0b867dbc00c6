"""Edge publisher: spool every message, send it to central, forget it only once central has it.

Two parts, as everywhere on the edge:

* :class:`SendWindow` - the pure core. It tracks which spooled messages are in flight, how many more
  may be sent, what an ack or a rejection changes, and when silence means the link lost them.
* :class:`Publisher` - the thin I/O loop: a thread owning one DEALER socket (CurveZMQ when keys are
  configured) that sends windows of spooled messages in batches, applies acks to the spool, resends
  everything unacknowledged after a reconnect or an ack timeout, and hands config pushes to the
  runtime. Central stores each ``(site, seq)`` once, so resending is always safe.

Example:
    >>> from edge.spool import Spool
    >>> spool = Spool(":memory:", site="s1")   # doctest: +SKIP
    >>> pub = Publisher(spool, LinkSettings(endpoint="tcp://central:5560"))   # doctest: +SKIP
    >>> pub.start(); pub.publish(Health(uptime_s=1.0)); pub.stop()   # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import zmq
from zmq.utils.monitor import recv_monitor_message

from controller.config import SignalConfig
from controller.rules import plan_problems
from edge.config import CentralLinkConfig
from edge.errors import LinkError
from edge.link import (
    ACK,
    DATA,
    PUSH,
    check_z85_key,
    decode_ack,
    load_key_pair,
    ranges,
    set_common_options,
)
from edge.messages import Body, ConfigAck, ConfigPush, WireError, decode
from edge.spool import Spool

log = logging.getLogger(__name__)


class SendWindow:
    """Which spooled messages are in flight, and what to send next (no I/O).

    Messages go out in seq order from a cursor. Acks and rejections take them out of flight; when
    nothing has been acknowledged for ``ack_timeout_s`` while messages are in flight, or the link
    reconnects, :meth:`reset` rewinds the cursor so every unacknowledged message is sent again.

    Example:
        >>> w = SendWindow(max_in_flight=3, ack_timeout_s=2.0)
        >>> w.room(), w.sent([1, 2, 3], now=0.0), w.room()
        (3, None, 0)
        >>> w.acked([(1, 2)], now=0.5), w.room(), w.cursor
        (2, 2, 3)
        >>> w.expired(now=3.0)
        True
    """

    def __init__(self, max_in_flight: int = 20_000, ack_timeout_s: float = 5.0) -> None:
        if max_in_flight < 1 or ack_timeout_s <= 0:
            raise ValueError("max_in_flight must be >= 1 and ack_timeout_s > 0")
        self.max_in_flight = max_in_flight
        self.ack_timeout_s = ack_timeout_s
        self.cursor = 0
        # In flight as disjoint runs (first, last, sent at), sorted: a batch is one run, not a
        # thousand entries, so sending and acknowledging cost nothing per message.
        self._runs: list[tuple[int, int, float]] = []
        self._count = 0
        self._progress = 0.0
        #: Seconds from send to ack of recently acknowledged messages (bounded).
        self.latencies: deque[float] = deque(maxlen=1_000_000)

    def room(self) -> int:
        """How many more messages may be sent now."""
        return self.max_in_flight - self._count

    @property
    def in_flight(self) -> int:
        """Messages sent and not yet acknowledged or rejected."""
        return self._count

    def sent(self, seqs: Sequence[int], now: float) -> None:
        """Record messages just sent (in increasing seq order)."""
        for first, last in ranges(seqs):
            self.sent_run(first, last, now)

    def sent_run(self, first: int, last: int, now: float) -> None:
        """Record the messages ``first..last`` just sent (beyond every seq sent since the last reset)."""
        if not self._runs:
            self._progress = now
        runs = self._runs
        if runs and runs[-1][1] == first - 1 and runs[-1][2] == now:
            runs[-1] = (runs[-1][0], last, now)
        else:
            runs.append((first, last, now))
        self._count += last - first + 1
        self.cursor = max(self.cursor, last)

    def acked(self, spans: Sequence[tuple[int, int]], now: float) -> int:
        """Take acknowledged ranges out of flight; return how many were in flight."""
        done = 0
        for lo, hi in spans:
            for n, sent_at in self._take(lo, hi):
                self.latencies.extend(itertools.repeat(now - sent_at, n))
                done += n
        if done:
            self._progress = now
        return done

    def rejected(self, seqs: Sequence[int], now: float) -> None:
        """Take refused messages out of flight; they stay spooled until the next :meth:`reset`."""
        for lo, hi in ranges(seqs):
            self._take(lo, hi)
        self._progress = now

    def _take(self, lo: int, hi: int) -> list[tuple[int, float]]:
        """Remove seqs ``lo..hi`` from flight; return ``(how many, sent at)`` per run they were in."""
        runs = self._runs
        i = bisect.bisect_left(runs, lo, key=lambda r: r[1])  # the first run that ends at lo or later
        j = i
        taken: list[tuple[int, float]] = []
        kept: list[tuple[int, int, float]] = []
        while j < len(runs) and runs[j][0] <= hi:
            first, last, sent_at = runs[j]
            taken.append((min(last, hi) - max(first, lo) + 1, sent_at))
            if first < lo:
                kept.append((first, lo - 1, sent_at))
            if last > hi:
                kept.append((hi + 1, last, sent_at))
            j += 1
        if taken:
            runs[i:j] = kept
            self._count -= sum(n for n, _ in taken)
        return taken

    def expired(self, now: float) -> bool:
        """True when messages are in flight and nothing has been acknowledged for the timeout."""
        return self._count > 0 and now - self._progress > self.ack_timeout_s

    def reset(self) -> None:
        """Forget what is in flight and rewind, so everything still spooled is sent again."""
        self._runs.clear()
        self._count = 0
        self.cursor = 0


class PlanTarget(Protocol):
    """What the edge runtime provides so central can retime its signals.

    ``schedule_plan`` must return quickly: it queues the plan, applies it at the next safe boundary
    (for instance the end of the cycle), and then calls ``done`` with the :class:`ConfigAck` to send.
    """

    def current_signal(self) -> SignalConfig | None:
        """The signal plan in force (None on a count-only site)."""
        ...

    def schedule_plan(self, push: ConfigPush, done: Callable[[ConfigAck], None]) -> None:
        """Apply ``push`` at the next safe boundary and then call ``done``."""
        ...


@dataclass(frozen=True)
class LinkSettings:
    """How a :class:`Publisher` reaches central.

    Attributes:
        endpoint: central's ROUTER endpoint, ``tcp://host:port``.
        server_public_key: central's Z85 public key; None sends in clear text (lab only).
        client_key_file: this box's secret key file; required with ``server_public_key``.
        batch: messages per DATA message.
        max_in_flight: messages sent and not yet acknowledged, at most.
        ack_timeout_s: silence after which in-flight messages are sent again. A reconnect resends at
            once (the socket monitor sees it), so this only covers acks lost without a disconnect,
            such as a store that fails to commit; too short a value makes a busy central do
            every batch twice.
    """

    endpoint: str
    server_public_key: str | None = None
    client_key_file: str | None = None
    batch: int = 500
    max_in_flight: int = 20_000
    ack_timeout_s: float = 15.0

    @classmethod
    def from_config(cls, cfg: CentralLinkConfig) -> LinkSettings:
        """The settings a site file's ``central`` section asks for."""
        return cls(cfg.endpoint, cfg.server_public_key, cfg.client_key_file)


@dataclass(frozen=True)
class PublisherStats:
    """Counters of one publisher since it started."""

    sent: int
    resends: int
    acked: int
    rejected: int
    spool_depth: int
    spool_evicted: int
    connected: bool


class Publisher:
    """Spool-backed, acknowledged sender of one site's messages to central (a thread).

    Args:
        spool: the site's spool; :meth:`publish` appends to it before anything is sent.
        settings: where central is and how to authenticate.
        plan_target: receives validated config pushes; None refuses every push.
        context: the ZeroMQ context to use (a private one by default).

    Raises:
        LinkError: a key is missing or malformed.
    """

    def __init__(
        self,
        spool: Spool,
        settings: LinkSettings,
        plan_target: PlanTarget | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.spool = spool
        self.settings = settings
        self.plan_target = plan_target
        self._curve: tuple[bytes, bytes, bytes] | None = None
        if settings.server_public_key is not None:
            if settings.client_key_file is None:
                raise LinkError("server_public_key is set but client_key_file is not: the edge needs its own key pair")
            server = check_z85_key(settings.server_public_key, "server_public_key")
            public, secret = load_key_pair(settings.client_key_file)
            self._curve = (server, public, secret)
        self._own_context = context is None
        self._ctx: zmq.Context[Any] = context if context is not None else zmq.Context()
        self._wake_lock = threading.Lock()
        self._wake_send, self._wake_recv = self._pipe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window = SendWindow(settings.max_in_flight, settings.ack_timeout_s)
        self._plans: OrderedDict[int, bool] = OrderedDict()
        self._plans_lock = threading.Lock()
        self._sent = self._resends = self._acked = self._rejected = 0
        self._connected = False
        self._reject_logged: set[int] = set()
        #: Handshakes central refused since start.
        self.handshake_failures = 0
        self._last_refusal_log = -1e9

    def _pipe(self) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
        # An inproc PAIR wakes the link thread when something is published, instead of polling.
        addr = f"inproc://simpang-publisher-{id(self)}"
        recv = self._ctx.socket(zmq.PAIR)
        recv.setsockopt(zmq.LINGER, 0)
        recv.bind(addr)
        send = self._ctx.socket(zmq.PAIR)
        send.setsockopt(zmq.LINGER, 0)
        send.setsockopt(zmq.SNDHWM, 1)
        send.connect(addr)
        return send, recv

    # -- API for the edge runtime (any thread) -------------------------------------------------

    def publish(self, body: Body) -> int:
        """Spool one message durably and schedule it for sending; return its seq."""
        return self.publish_many([body])[0]

    def publish_many(self, bodies: Sequence[Body]) -> list[int]:
        """Spool many messages in one transaction and schedule them; return their seqs."""
        rows = self.spool.append(bodies)
        self._wake()
        return [seq for seq, _ in rows]

    def _wake(self) -> None:
        with self._wake_lock:  # the PAIR socket is shared by publishing threads
            if self._wake_send.closed:
                return
            with contextlib.suppress(zmq.Again):  # a wake-up is already pending
                self._wake_send.send(b"", zmq.NOBLOCK)

    def stats(self) -> PublisherStats:
        """A snapshot of the counters (for Health messages and logs)."""
        return PublisherStats(
            self._sent, self._resends, self._acked, self._rejected,
            self.spool.depth, self.spool.evicted, self._connected,
        )

    def ack_latencies(self) -> list[float]:
        """Seconds from send to ack of the recently acknowledged messages (the last million at most)."""
        return list(self._window.latencies.copy())

    def reset_ack_latencies(self) -> None:
        """Forget the recorded ack latencies (to time a run from here)."""
        self._window.latencies.clear()

    def start(self) -> None:
        """Start the link thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="simpang.publish", daemon=True)
        self._thread.start()

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until central has acknowledged everything spooled; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.spool.depth > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        """Stop the link thread and close the sockets; spooled messages stay for the next start."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._wake_lock:
            self._wake_send.close()
        self._wake_recv.close()
        if self._own_context:
            self._ctx.term()

    # -- the link thread ---------------------------------------------------------------------

    def _socket(self) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
        sock = self._ctx.socket(zmq.DEALER)
        set_common_options(sock)
        # Never queue into a connection that is not up: unsent messages stay in the spool instead.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        sock.setsockopt(zmq.SNDHWM, 1000)
        if self._curve is not None:
            server, public, secret = self._curve
            sock.curve_serverkey = server
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        monitor = sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
        )
        try:
            sock.connect(self.settings.endpoint)
        except zmq.ZMQError as err:
            sock.close()
            monitor.close()
            raise LinkError(f"cannot connect to central at {self.settings.endpoint!r}: {err}") from None
        return sock, monitor

    def _run(self) -> None:
        sock, monitor = self._socket()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        poller.register(self._wake_recv, zmq.POLLIN)
        window = self._window
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(100))
                now = time.monotonic()
                if monitor in events:
                    self._on_monitor(monitor)
                if self._wake_recv in events:
                    while self._wake_recv.poll(0):
                        self._wake_recv.recv()
                if sock in events:
                    self._on_replies(sock, now)
                if window.expired(now):
                    log.info("no ack from central for %.1f s: resending %d message(s) in flight",
                             window.ack_timeout_s, window.in_flight)
                    self._resends += window.in_flight
                    window.reset()
                if self._connected:
                    self._send_some(sock, now)
        finally:
            sock.disable_monitor()
            monitor.close()
            sock.close()

    def _on_monitor(self, monitor: zmq.Socket[Any]) -> None:
        while monitor.poll(0):
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                log.info("connected to central at %s", self.settings.endpoint)
                self._connected = True
                # Whatever was in flight on an earlier connection may be lost: send it all again.
                self._resends += self._window.in_flight
                self._window.reset()
            elif event == zmq.EVENT_DISCONNECTED:
                if self._connected:
                    log.warning("lost the connection to central at %s; messages stay spooled", self.settings.endpoint)
                self._connected = False
            else:
                # Refused by central (unknown key, wrong server key, clear text against CurveZMQ):
                # ZeroMQ retries quietly, so say it, but not at every retry.
                self.handshake_failures += 1
                now = time.monotonic()
                if now - self._last_refusal_log > 60.0:
                    self._last_refusal_log = now
                    log.error("central at %s refused the handshake (%d time(s) so far): check this box's key "
                              "file, central's public key, and that central lists this box's key",
                              self.settings.endpoint, self.handshake_failures)

    def _send_some(self, sock: zmq.Socket[Any], now: float) -> None:
        window = self._window
        batch = self.settings.batch
        while window.room() > 0:
            rows = self.spool.pending_rows(after=window.cursor, limit=min(batch, window.room()))
            if not rows:
                return
            try:
                # Each spooled row is already a DATA batch frame (frames joined by newlines).
                sock.send_multipart([DATA, *(frames for _, _, frames in rows)], zmq.NOBLOCK)
            except zmq.Again:
                return  # the connection is down or full; the spool keeps them
            for first, last, _ in rows:
                window.sent_run(first, last, now)
                self._sent += last - first + 1

    def _on_replies(self, sock: zmq.Socket[Any], now: float) -> None:
        while True:
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(parts) == 2 and parts[0] == ACK:
                self._on_ack(parts[1], now)
            elif len(parts) == 2 and parts[0] == PUSH:
                self._on_push(parts[1])
            else:
                log.warning("ignoring a %d-part message of unknown kind from central", len(parts))

    def _on_ack(self, payload: bytes, now: float) -> None:
        try:
            acked, rejected = decode_ack(payload)
        except (ValueError, TypeError) as err:
            log.warning("ignoring a malformed ack from central: %s", err)
            return
        self._window.acked(acked, now)
        self._acked += self.spool.ack(acked)
        if rejected:
            self._window.rejected([s for s, _ in rejected], now)
            self._rejected += len(rejected)
            for seq, reason in rejected:
                if seq not in self._reject_logged and len(self._reject_logged) < 10_000:
                    self._reject_logged.add(seq)
                    log.error("central refused message seq %d (%s); it stays spooled and is retried "
                              "after the next reconnect", seq, reason)

    def _on_push(self, payload: bytes) -> None:
        try:
            env = decode(payload)
        except WireError as err:
            log.warning("ignoring a config push that is not a valid message: %s", err)
            return
        push = env.body
        if not isinstance(push, ConfigPush) or env.site != self.spool.site:
            log.warning("ignoring a push of kind %s for site %s", push.kind, env.site)
            return
        with self._plans_lock:
            if push.version in self._plans:
                return  # central resends until our ack arrives; the ack is spooled already
            self._plans[push.version] = True
            while len(self._plans) > 64:
                self._plans.popitem(last=False)
        target = self.plan_target
        if target is None:
            self.publish(ConfigAck(version=push.version, applied=False,
                                   reasons=["this edge box runs no signal controller"]))
            return
        problems = plan_problems(push.signal, target.current_signal())
        if problems:
            log.warning("refusing plan version %d: %s", push.version, "; ".join(problems))
            self.publish(ConfigAck(version=push.version, applied=False, reasons=problems))
            return
        log.info("plan version %d from %s validated; applying at the next safe boundary", push.version, push.author)

        def done(ack: ConfigAck) -> None:
            self.publish(ack)

        target.schedule_plan(push, done)
