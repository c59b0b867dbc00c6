"""The edge runtime's stage processes: capture, detect, and track (with the traffic measures).

Each ``*_main`` function runs in its own process under :class:`edge.supervisor.Supervisor`. Frames
go from capture to detect through a shared-memory :class:`edge.framering.FrameRing`; everything
after the detector is small (detections, live measures, aggregates) and crosses bounded
``multiprocessing`` queues. Every stage loads the site file itself (it is the one source of truth,
and a restarted stage must not depend on state handed to it at first start).

Data flow::

    capture --FrameRing--> detect --detections--> track --live--> control (runtime)
                                                        --out---> publish (runtime)
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.capture import Frame, FrameSource, open_source
from edge.clock import Stamp
from edge.config import CameraConfig, SiteConfig
from edge.config_loader import load_site
from edge.detect import DetectStage, load_detector
from edge.errors import EdgeError
from edge.framering import FrameRing, RingHandle
from edge.measure import SiteMeasures
from edge.messages import Aggregate, Events, HiResEvent
from edge.supervisor import StageContext
from edge.track import Tracker
from models.detections import Detections

log = logging.getLogger(__name__)

#: Sent down the detections queue when the stream has ended (or capture was stopped).
END = "end"

#: How often the track stage hands live measures to the controller (stream seconds).
LIVE_PERIOD_S = 1.0

#: Hi-res detector events are batched into one message per this many stream seconds.
EVENTS_PERIOD_S = 5.0


@dataclass(frozen=True)
class Channels:
    """The queues between stages (picklable: ``multiprocessing`` queues and a ring handle)."""

    ring: RingHandle
    detections: Any  # mp.Queue[(index, mono, wall, Detections | None, dropped) | END]
    live: Any  # mp.Queue[LiveSnapshot]
    out: Any  # mp.Queue[Aggregate | Events]
    stats: Any  # mp.Queue[StageStats]
    signal: Any | None = None  # mp.Queue[SignalState] to a twin camera, None otherwise


@dataclass(frozen=True)
class StageOptions:
    """What the runtime tells every stage."""

    site_path: Path
    camera_id: str
    pace: float = 1.0
    """Wall-clock pacing of recorded and simulated sources: 1.0 = real time, 4.0 = four times
    faster, 0 = as fast as the pipeline takes frames (replay-like)."""
    loops: int = 1
    """How often a video file source is played (a file stands in for a camera in tests)."""
    limit: int | None = None
    """Stop a video file source after this many frames."""
    results_dir: Path | None = None
    """Where the twin camera writes its ground truth and trip info when it stops."""
    model_path: Path | None = None
    """A model file overriding the site's."""


@dataclass(frozen=True)
class LiveSnapshot:
    """Live measures of every approach at one stream moment, for the controller."""

    t: float
    wall: float
    approaches: dict[str, Any]  # approach id -> edge.measure.LiveApproach
    healthy: bool = True


@dataclass
class StageStats:
    """Counters a stage reports to the runtime about once a second."""

    stage: str
    frames: int = 0
    dropped: int = 0
    detected: int = 0
    fps: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _put_latest(q: Any, item: object) -> None:
    """Put without blocking; a full queue drops the item (stats and live views only)."""
    with contextlib.suppress(queue.Full):
        q.put_nowait(item)


def _load(opts: StageOptions) -> SiteConfig:
    site = load_site(opts.site_path)
    site.camera(opts.camera_id)  # KeyError here is a programming error: the runtime checked it
    return site


# -- capture ---------------------------------------------------------------------------------
def capture_main(ctx: StageContext, opts: StageOptions, ch: Channels) -> None:
    """Read the camera into the frame ring, paced like a camera, until the stream ends."""
    site = _load(opts)
    camera = site.camera(opts.camera_id)
    ring = FrameRing.attach(ch.ring)
    h, w = ring.handle.shape
    try:
        source = _open_camera(camera, opts)
    except EdgeError as err:
        log.error("camera %s cannot be opened: %s", camera.id, err)
        ring.close()
        raise SystemExit(2) from None
    actuator = _twin_actuator(source, ch) if ch.signal is not None else None
    fps = float(source.fps or camera.fps or 25.0)
    t0 = time.monotonic()
    frames = dropped = 0
    last_report = t0
    ended = False
    try:
        while not ctx.stopping():
            if actuator is not None:
                actuator.apply_pending()
            frame = source.read()
            ctx.beat()
            if frame is None:
                ended = True
                log.info("camera %s: end of stream after %d frames", camera.id, frames)
                break
            image = frame.image
            if image.shape[:2] != (h, w):
                image = np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
            if opts.pace > 0:
                due = t0 + frames / (fps * opts.pace)
                delay = due - time.monotonic()
                if delay > 0:
                    ctx.wait(delay)
            # In a live ring the writer never waits; in lock-step ("every") it waits for room.
            while not ring.write(np.ascontiguousarray(image), frame.index, frame.stamp.mono, frame.stamp.wall, timeout=0.5):
                ctx.beat()
                if ctx.stopping():
                    break
            frames += 1
            now = time.monotonic()
            if now - last_report >= 1.0:
                stats = getattr(source, "stats", None)
                dropped = int(getattr(stats, "dropped", dropped))
                _put_latest(ch.stats, StageStats("capture", frames=frames, dropped=dropped, fps=frames / (now - t0)))
                last_report = now
    finally:
        _put_latest(ch.stats, StageStats("capture", frames=frames, dropped=dropped,
                                         fps=frames / max(time.monotonic() - t0, 1e-9)))
        if actuator is not None and opts.results_dir is not None:
            actuator.write_results(opts.results_dir)
        source.close()
        if ended or ctx.stopping():
            ring.close_writer()
        ring.close()


def _open_camera(camera: CameraConfig, opts: StageOptions) -> FrameSource:
    """The camera's source; a twin camera with a results folder also records SUMO trip info there."""
    if camera.source.strip().startswith("twin:") and opts.results_dir is not None:
        from edge.twin.source import open_twin  # noqa: PLC0415 - needs SUMO

        opts.results_dir.mkdir(parents=True, exist_ok=True)
        trips = opts.results_dir / "tripinfo.xml"
        args = ("--tripinfo-output", str(trips), "--tripinfo-output.write-unfinished", "true",
                "--tripinfo-output.write-undeparted", "true")
        return open_twin(camera.source.strip(), fps=camera.fps, frame_size=camera.frame_size, sumo_args=args)
    return open_source(camera, base_dir=opts.site_path.parent, loops=opts.loops, limit=opts.limit)


class _TwinActuator:
    """Applies the controller's signal states to the SUMO junction inside a twin camera."""

    def __init__(self, twin: Any, signal_q: Any) -> None:
        from controller.scenarios.catalog import fourleg_intersection  # noqa: PLC0415 - twin only
        from controller.sumo import SumoActuator  # noqa: PLC0415 - twin only

        self.twin = twin
        self.q = signal_q
        self.actuator = SumoActuator(twin.world.traci, fourleg_intersection(twin.scenario))
        self.applied = 0

    def apply_pending(self) -> None:
        state = None
        while True:
            try:
                state = self.q.get_nowait()
            except queue.Empty:
                break
        if state is not None:
            self.actuator.apply(state)
            self.applied += 1

    def write_results(self, folder: Path) -> None:
        """Ground truth of the run: vehicles per movement and class, and how far SUMO got.

        ``movements`` counts the movements completed (exit edge reached), the ones a camera can
        name; ``entered`` the stop-bar crossings, including vehicles still in the junction.
        """
        folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "sim_time_s": float(self.twin.world.time_s),
            "movements": self.twin.counter.completed,
            "entered": self.twin.counter.counts,
            "signal_states_applied": self.applied,
        }
        (folder / "truth.json").write_text(json.dumps(doc, indent=1))


def _twin_actuator(source: object, ch: Channels) -> _TwinActuator | None:
    if not hasattr(source, "world"):
        log.warning("signal commands were wired to a camera that is not a twin; ignoring them")
        return None
    return _TwinActuator(source, ch.signal)


# -- detect ----------------------------------------------------------------------------------
def detect_main(ctx: StageContext, opts: StageOptions, ch: Channels) -> None:
    """Run the detector on frames from the ring; pass detections (or None on stride frames) on."""
    site = _load(opts)
    camera = site.camera(opts.camera_id)
    detector = load_detector(site.model, opts.site_path.parent, path=opts.model_path)  # warms up
    stage = DetectStage(detector, stride=camera.detect_stride)
    ring = FrameRing.attach(ch.ring)
    t0 = time.monotonic()
    last_report = t0
    dropped = 0
    try:
        while True:
            got = ring.read(timeout=0.5)
            ctx.beat()
            if got is None:
                if ring.closed:
                    _put_blocking(ctx, ch.detections, END)
                    break
                if ctx.stopping():
                    break
                continue
            dropped += got.dropped
            frame = Frame(got.image, got.index, Stamp(got.mono, got.wall))
            dets = stage.update(frame)
            _put_blocking(ctx, ch.detections, (got.index, got.mono, got.wall, dets, got.dropped))
            now = time.monotonic()
            if now - last_report >= 1.0:
                s = stage.stats
                _put_latest(ch.stats, StageStats(
                    "detect", frames=s.frames, dropped=dropped, detected=s.detected,
                    fps=s.detected / max(now - t0, 1e-9),
                    extra={"inference_ms": 1000 * s.inference_s / max(s.detected, 1)},
                ))
                last_report = now
    finally:
        s = stage.stats
        _put_latest(ch.stats, StageStats("detect", frames=s.frames, dropped=dropped, detected=s.detected,
                                         fps=s.detected / max(time.monotonic() - t0, 1e-9)))
        ring.close()


def _put_blocking(ctx: StageContext, q: Any, item: object) -> None:
    """Put, waiting for room while beating: downstream backpressure is not a stuck stage."""
    while True:
        try:
            q.put(item, timeout=0.5)
            return
        except queue.Full:
            ctx.beat()


# -- track + measures ------------------------------------------------------------------------
def track_main(ctx: StageContext, opts: StageOptions, ch: Channels) -> None:
    """Track, measure, and hand live measures to control and aggregates/events to publish."""
    site = _load(opts)
    camera = site.camera(opts.camera_id)
    tracker = Tracker(site.tracker, float(camera.fps or 25.0))
    measures = SiteMeasures(site, camera.id)
    pending: list[HiResEvent] = []
    last_live = last_events = None
    stamp: Stamp | None = None
    frames = 0
    t0 = time.monotonic()
    last_report = t0
    while True:
        try:
            item = ch.detections.get(timeout=0.5)
        except queue.Empty:
            ctx.beat()
            if ctx.stopping():
                break
            continue
        ctx.beat()
        if item == END:
            break
        _index, mono, wall, dets, _dropped = item
        stamp = Stamp(mono, wall)
        tracks: Detections = tracker.update(dets, stamp)
        pending.extend(measures.update(tracks, stamp))
        frames += 1
        for agg in measures.flush(stamp):
            _put_blocking(ctx, ch.out, agg)
        if last_live is None or mono - last_live >= LIVE_PERIOD_S:
            _put_latest(ch.live, LiveSnapshot(mono, wall, measures.live()))
            last_live = mono
        if last_events is None:
            last_events = mono
        if pending and (mono - last_events >= EVENTS_PERIOD_S or len(pending) >= 500):
            _put_blocking(ctx, ch.out, Events(events=pending))
            pending = []
            last_events = mono
        now = time.monotonic()
        if now - last_report >= 1.0:
            _put_latest(ch.stats, StageStats("track", frames=frames, fps=frames / (now - t0),
                                             extra={"tracks": float(len(tracker))}))
            last_report = now
    # Ordered stop or end of stream: nothing measured may be lost.
    if pending:
        _put_blocking(ctx, ch.out, Events(events=pending))
    if stamp is not None:
        finals: list[Aggregate] = measures.flush(stamp, final=True)
        for agg in finals:
            _put_blocking(ctx, ch.out, agg)
    _put_latest(ch.stats, StageStats("track", frames=frames, fps=frames / max(time.monotonic() - t0, 1e-9)))
    log.info("track stage finished after %d frames", frames)


def make_channels(ring: FrameRing, ctx: mp.context.SpawnContext, with_signal: bool) -> Channels:
    """Bounded queues between the stages."""
    return Channels(
        ring=ring.handle,
        detections=ctx.Queue(maxsize=64),
        live=ctx.Queue(maxsize=64),
        out=ctx.Queue(maxsize=1024),
        stats=ctx.Queue(maxsize=64),
        signal=ctx.Queue(maxsize=16) if with_signal else None,
    )
