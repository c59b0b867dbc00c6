"""The unattended edge runtime: ``simpang edge run --site FILE``.

One supervisor process runs the pipeline as named stage processes (:mod:`edge.stages`):
``capture`` -> ``detect`` -> ``track`` (tracking and traffic measures), with frames in shared
memory and every queue bounded. The supervisor process itself runs the two parts that must never
stop while the box is up: ``control`` (the signal controller behind its safety envelope, which
falls back to fixed time whenever the live measures go stale, for example when the camera is lost)
and ``publish`` (every aggregate, event and heartbeat is spooled to SQLite before it is sent, and
kept until central acknowledges it). A watchdog restarts a stage whose process dies or stops
beating; health and Prometheus metrics are served on a small local HTTP endpoint.

SIGTERM (or SIGINT, or the end of ``duration_s``) stops the stages in data-flow order, so the
tracker's last interval is flushed into the spool before the publisher stops; what central has not
acknowledged stays spooled for the next start.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import cv2
from prometheus_client import CollectorRegistry, Counter, Gauge

from controller.config import SignalConfig
from controller.errors import TimingRejectedError
from edge.config import CameraConfig, SiteConfig
from edge.errors import ConfigError
from edge.framering import FrameRing
from edge.health_http import HealthServer
from edge.messages import CameraHealth, ConfigAck, ConfigPush, Events, Health
from edge.publish import LinkSettings, Publisher
from edge.spool import Spool
from edge.stages import (
    Channels,
    LiveSnapshot,
    StageOptions,
    StageStats,
    capture_main,
    detect_main,
    make_channels,
    track_main,
)
from edge.supervisor import StageSpec, Supervisor

if TYPE_CHECKING:
    from edge.control import ControlStage

log = logging.getLogger(__name__)

STAGE_ORDER = ("capture", "detect", "track")


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run one edge box.

    Attributes:
        site_path: The site file.
        camera_id: Which camera (default: the site's only one).
        endpoint: Central's ZeroMQ endpoint, overriding the site file.
        server_public_key: Central's CurveZMQ public key, overriding the site file.
        client_key_file: This box's secret key file, overriding the site file.
        spool_path: The spool file, overriding the site file (relative to the working folder).
        health: ``(host, port)`` of the health endpoint; port 0 picks a free one; None disables it.
        pace: Pacing of recorded/simulated sources (1.0 real time; 0 lock-step, as fast as possible).
        loops: Plays of a video file source.
        limit: Frames of a video file source to play.
        duration_s: Stop after this long (None: until SIGTERM/SIGINT or the end of the stream).
        results_dir: Where a twin camera writes ground truth when it stops.
        model_path: A model file overriding the site's.
        stuck_after_s: Watchdog limit for a stage without a heartbeat.
        drain_timeout_s: How long to wait at stop for central to acknowledge what is spooled.
    """

    site_path: Path
    camera_id: str | None = None
    endpoint: str | None = None
    server_public_key: str | None = None
    client_key_file: str | None = None
    spool_path: Path | None = None
    health: tuple[str, int] | None = ("127.0.0.1", 9108)
    pace: float = 1.0
    loops: int = 1
    limit: int | None = None
    duration_s: float | None = None
    results_dir: Path | None = None
    model_path: Path | None = None
    stuck_after_s: float = 30.0
    drain_timeout_s: float = 5.0


@dataclass
class RunSummary:
    """What a run did, for the CLI and the demo."""

    uptime_s: float = 0.0
    frames: int = 0
    frames_dropped: int = 0
    detector_fps: float = 0.0
    aggregates: int = 0
    event_batches: int = 0
    signal_changes: int = 0
    control_mode: str = "none"
    stage_restarts: int = 0
    spool_depth: int = 0
    acked: int = 0
    stop_reason: str = ""
    stats: dict[str, dict[str, float]] = field(default_factory=dict)


def frame_shape(camera: CameraConfig, base_dir: Path) -> tuple[int, int]:
    """(height, width) of the camera's frames: declared, from a twin URI, or probed from a file."""
    if camera.frame_size is not None:
        return int(camera.frame_size[1]), int(camera.frame_size[0])
    src = camera.source.strip()
    if src.startswith("twin:"):
        from edge.twin.source import TwinOptions  # noqa: PLC0415 - needs SUMO

        opts = TwinOptions.parse(src)
        return opts.height, opts.width
    path = Path(src).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if path.exists():
        cap = cv2.VideoCapture(str(path))
        try:
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            cap.release()
        if w > 0 and h > 0:
            return h, w
    raise ConfigError(f"camera {camera.id}: set frame_size [width, height] for a live source (the frame ring is sized from it)")


class EdgeRuntime:
    """Runs one site's pipeline until told to stop.

    Example:
        >>> rt = EdgeRuntime(load_site(path), RuntimeOptions(site_path=path, duration_s=60))  # doctest: +SKIP
        >>> summary = rt.run()                                                              # doctest: +SKIP
    """

    def __init__(self, site: SiteConfig, options: RuntimeOptions) -> None:
        self.site = site
        self.options = options
        if options.camera_id is not None:
            self.camera = site.camera(options.camera_id)
        elif len(site.cameras) == 1:
            self.camera = site.cameras[0]
        else:
            raise ConfigError(f"site {site.site_id} has {len(site.cameras)} cameras; the runtime runs one per process (--camera)")
        self._stop = threading.Event()
        self._stop_reason = ""
        self._plans: queue.Queue[tuple[ConfigPush, Callable[[ConfigAck], None]]] = queue.Queue()
        self._plan_waiting: tuple[int, Callable[[ConfigAck], None]] | None = None
        self.plan_version = 0
        self.registry = CollectorRegistry()
        self._m_frames = Gauge("simpang_edge_frames", "Frames captured", registry=self.registry)
        self._m_dropped = Gauge("simpang_edge_frames_dropped", "Stale frames dropped", registry=self.registry)
        self._m_det_fps = Gauge("simpang_edge_detector_fps", "Detector frames per second", registry=self.registry)
        self._m_restarts = Gauge("simpang_edge_stage_restarts", "Stage restarts by the watchdog", registry=self.registry)
        self._m_spool = Gauge("simpang_edge_spool_depth", "Messages waiting for central's ack", registry=self.registry)
        self._m_aggs = Counter("simpang_edge_aggregates", "Aggregates published", registry=self.registry)
        self._m_signal = Counter("simpang_edge_signal_changes", "Signal state changes sent to the actuator", registry=self.registry)
        self.summary = RunSummary()
        self._stats: dict[str, StageStats] = {}
        self._t0 = time.monotonic()
        self._control: ControlStage | None = None
        self.health_port: int | None = None
        self._cabinet: Any = None
        self._queues: dict[str, float] = {}

    # -- PlanTarget (called from the publisher thread) --------------------------------------
    def current_signal(self) -> SignalConfig | None:
        """The signal plan in force."""
        if self._control is not None:
            cfg: SignalConfig = self._control.supervisor.envelope.config
            return cfg
        return self.site.signal

    def schedule_plan(self, push: ConfigPush, done: Callable[[ConfigAck], None]) -> None:
        """Queue a pushed plan; the control loop applies it at a safe boundary."""
        self._plans.put((push, done))

    # -- run ---------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the run to end (thread- and signal-safe)."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    def run(self) -> RunSummary:
        """Start everything, supervise until stopped, stop in order. Returns the summary."""
        opts = self.options
        ctx = mp.get_context("spawn")
        h, w = frame_shape(self.camera, opts.site_path.parent)
        ring = FrameRing.create((h, w), slots=4, mode="every" if opts.pace == 0 else "latest", ctx=ctx)
        twin = self.camera.source.strip().startswith("twin:")
        if self.site.signal is not None and self.site.controller is not None:
            from edge.control import ControlStage  # noqa: PLC0415 - needs the controller only here

            self._control = ControlStage(self.site, now=time.monotonic(), epoch=time.time())
            if not twin:
                from controller.actuator import SimulatedCabinet  # noqa: PLC0415

                # No cabinet driver exists yet (controller/actuator.py describes the NTCIP 1202
                # mapping): the states go to an in-process cabinet with its own conflict monitor.
                self._cabinet = SimulatedCabinet(self.site.signal)
        ch = make_channels(ring, ctx, with_signal=twin and self._control is not None)
        stage_opts = StageOptions(opts.site_path, self.camera.id, pace=opts.pace, loops=opts.loops, limit=opts.limit,
                                  results_dir=opts.results_dir, model_path=opts.model_path)
        sup = Supervisor(ctx=ctx)
        for name, target in (("capture", capture_main), ("detect", detect_main), ("track", track_main)):
            sup.add(StageSpec(name, target, (stage_opts, ch), stuck_after_s=opts.stuck_after_s,
                              stop_timeout_s=15.0, start_timeout_s=120.0))
        spool = Spool(opts.spool_path or Path(self.site.central.spool_path), site=self.site.site_id,
                      max_bytes=int(self.site.central.spool_max_mb * (1 << 20)))
        link = LinkSettings.from_config(self.site.central)
        link = LinkSettings(opts.endpoint or link.endpoint, opts.server_public_key or link.server_public_key,
                            opts.client_key_file or link.client_key_file)
        publisher = Publisher(spool, link, plan_target=self)
        health = None
        if opts.health is not None:
            health = HealthServer(opts.health[0], opts.health[1], lambda: self.health_doc(sup, publisher), self.registry)
        old_handlers = self._install_signals()
        try:
            publisher.start()
            if health is not None:
                health.start()
                self.health_port = health.port
                log.info("health on http://%s:%d/health", opts.health[0] if opts.health else "", health.port)
            sup.start()
            self._loop(sup, ch, publisher)
        finally:
            self._shutdown(sup, ch, publisher)
            if health is not None:
                health.stop()
            spool.close()
            ring.close()
            ring.unlink()
            self._restore_signals(old_handlers)
        return self.summary

    def _loop(self, sup: Supervisor, ch: Channels, publisher: Publisher) -> None:
        opts = self.options
        step_s = self.site.controller.step_s if self.site.controller is not None else 1.0
        last_step = last_health = last_poll = 0.0
        last_live: LiveSnapshot | None = None
        live_received = 0.0
        last_state = None
        deadline = None if opts.duration_s is None else time.monotonic() + opts.duration_s
        while not self._stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.request_stop("duration reached")
                break
            self._drain_out(ch, publisher)
            self._drain_stats(ch)
            for snap in _drain(ch.live):
                last_live, live_received = snap, now
                self._queues = {aid: float(a.queue_veh) for aid, a in snap.approaches.items()}
                if self._control is not None:
                    self._control.observe(snap.t, snap.approaches, snap.healthy)
            if self._control is not None and now - last_step >= step_s:
                last_step = now
                # Controller clock: the stream's clock, carried forward by wall time since the last
                # measures, so a lost camera still advances time and trips the fallback.
                pace = opts.pace if opts.pace > 0 else 1.0
                t = now if last_live is None else last_live.t + (now - live_received) * pace
                state = self._control.step(t)
                self._apply_plans()
                key = (state.stage, state.target, tuple(sorted(state.lights.items())))
                if key != last_state:
                    last_state = key
                    self._m_signal.inc()
                    self.summary.signal_changes += 1
                    if ch.signal is not None:
                        with contextlib.suppress(queue.Full):
                            ch.signal.put_nowait(state)
                    elif self._cabinet is not None:
                        self._cabinet.apply(state)
                events = self._control.take_events()
                if events:
                    publisher.publish(Events(events=events))
            if now - last_poll >= 1.0:
                last_poll = now
                for name in sup.poll():
                    log.warning("stage %s restarted by the watchdog", name)
                if self._stream_ended(sup):
                    self.request_stop("end of stream")
            if now - last_health >= self.site.central.heartbeat_s:
                last_health = now
                publisher.publish(self._health(sup, publisher))
            self._stop.wait(0.05)

    @staticmethod
    def _stream_ended(sup: Supervisor) -> bool:
        return all(not s.alive and s.exitcode == 0 for s in sup.status())

    def _apply_plans(self) -> None:
        assert self._control is not None
        env = self._control.supervisor.envelope
        if self._plan_waiting is not None and env.pending is None:
            version, done = self._plan_waiting
            self.plan_version = version
            self._plan_waiting = None
            done(ConfigAck(version=version, applied=True))
            log.info("timing plan version %d in force", version)
        while True:
            try:
                push, done = self._plans.get_nowait()
            except queue.Empty:
                return
            try:
                env.request_timings(push.signal)
            except TimingRejectedError as err:
                done(ConfigAck(version=push.version, applied=False, reasons=err.reasons))
                continue
            self._plan_waiting = (push.version, done)

    def _drain_out(self, ch: Channels, publisher: Publisher) -> None:
        bodies = _drain(ch.out)
        if bodies:
            publisher.publish_many(bodies)
            for b in bodies:
                if isinstance(b, Events):
                    self.summary.event_batches += 1
                else:
                    self.summary.aggregates += 1
                    self._m_aggs.inc()

    def _drain_stats(self, ch: Channels) -> None:
        for s in _drain(ch.stats):
            self._stats[s.stage] = s
        cap, det = self._stats.get("capture"), self._stats.get("detect")
        if cap is not None:
            self._m_frames.set(cap.frames)
            self._m_dropped.set(self._dropped())
        if det is not None:
            self._m_det_fps.set(det.fps)

    def _dropped(self) -> int:
        """Frames dropped anywhere: stale frames at the camera and unseen frames in the ring."""
        return sum(s.dropped for s in self._stats.values() if s.stage in ("capture", "detect"))

    def _health(self, sup: Supervisor, publisher: Publisher) -> Health:
        cap, det = self._stats.get("capture"), self._stats.get("detect")
        cam_ok = any(s.alive and s.heartbeat_age_s < 5.0 for s in sup.status() if s.name == "capture")
        control = self._control
        state = control.state if control is not None else None
        pst = publisher.stats()
        self._m_restarts.set(sup.restarts)
        self._m_spool.set(pst.spool_depth)
        return Health(
            uptime_s=time.monotonic() - self._t0,
            cameras=[CameraHealth(camera=self.camera.id, ok=cam_ok, fps=cap.fps if cap else 0.0,
                                  dropped=self._dropped())],
            detector_fps=det.fps if det else 0.0,
            control_mode=control.mode if control is not None else "none",
            phase=sorted(state.green) if state is not None else [],
            queues=dict(self._queues),
            plan_version=self.plan_version,
            spool_depth=pst.spool_depth,
            spool_evicted=pst.spool_evicted,
            stage_restarts=sup.restarts,
        )

    def health_doc(self, sup: Supervisor, publisher: Publisher) -> dict[str, Any]:
        """The /health document: ok when every stage is alive and beating."""
        stages = [
            {"name": s.name, "alive": s.alive, "restarts": s.restarts, "heartbeat_age_s": round(s.heartbeat_age_s, 2),
             "pid": s.pid}
            for s in sup.status()
        ]
        ok = all(s["alive"] for s in stages) and not self._stop.is_set()
        doc: dict[str, Any] = {"ok": ok, "site": self.site.site_id, "stages": stages}
        doc.update(self._health(sup, publisher).model_dump(exclude={"kind"}))
        return doc

    def _shutdown(self, sup: Supervisor, ch: Channels, publisher: Publisher) -> None:
        log.info("stopping (%s)", self._stop_reason or "error")
        # Stop in data-flow order while draining, so the tracker's final flush reaches the spool.
        stopper = threading.Thread(target=sup.stop, args=(list(STAGE_ORDER),), daemon=True)
        stopper.start()
        while stopper.is_alive():
            self._drain_out(ch, publisher)
            self._drain_stats(ch)
            stopper.join(0.05)
        self._drain_out(ch, publisher)
        self._drain_stats(ch)
        if self._control is not None:
            events = self._control.take_events()
            if events:
                publisher.publish(Events(events=events))
        publisher.publish(self._health(sup, publisher))
        drained = publisher.wait_drained(self.options.drain_timeout_s)
        st = publisher.stats()
        publisher.stop()
        cap, det = self._stats.get("capture"), self._stats.get("detect")
        self.summary.uptime_s = time.monotonic() - self._t0
        self.summary.frames = cap.frames if cap else 0
        self.summary.frames_dropped = self._dropped()
        self.summary.detector_fps = det.fps if det else 0.0
        self.summary.control_mode = self._control.mode if self._control is not None else "none"
        self.summary.stage_restarts = sup.restarts
        self.summary.spool_depth = st.spool_depth
        self.summary.acked = st.acked
        self.summary.stop_reason = self._stop_reason
        self.summary.stats = {k: {"frames": v.frames, "fps": v.fps, "dropped": v.dropped} for k, v in self._stats.items()}
        if not drained:
            log.warning("stopped with %d message(s) not yet acknowledged; they stay in the spool", self.summary.spool_depth)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(signal.Signals(signum).name)

        return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def _restore_signals(self, old: dict[int, Any]) -> None:
        for s, h in old.items():
            signal.signal(s, h)


def _drain(q: Any, limit: int = 10_000) -> list[Any]:
    out: list[Any] = []
    for _ in range(limit):
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            break
    return out
