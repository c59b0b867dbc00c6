"""Traffic measures of one camera: the :class:`SiteMeasures` facade over the measure stages.

From the confirmed tracks of each frame it derives, per the site configuration:

* directional counts by class at every counting line (:class:`edge.counting.LineCounter`, with
  hysteresis), and turning-movement counts (approach stop line, then exit line; the entry of a
  vehicle first found past its stop line, or the exit of one lost short of its exit line, is
  inferred from where its track began or ended and which way it was moving:
  :class:`edge.movement_inference.MovementInference`);
* per approach: occupancy of the stop-line zone as a loop detector would report it (the share of
  time any vehicle's bottom-centre anchor is inside), detector on/off events in the Indiana hi-res
  convention (82/81, parameter = the approach's position in the site file + 1), arrivals
  (vehicles entering the approach's zones; the stop line when it has none), queue length in
  vehicles (queued = in the queue zone and slower than ``queue_speed_mps`` with a calibration,
  ``queue_speed_px_s`` without) and, with a calibration and a stop line, in metres (ground
  distance from the stop line to the farthest queued vehicle's anchor), spot speeds at the stop
  line from the ground-plane homography, and PCU-weighted flow (PKJI 2023);
* fixed-interval :class:`edge.messages.Aggregate` messages (``live_interval_s``), cumulative
  :class:`CountTotals`, and a :meth:`SiteMeasures.live` view for the signal controller.

Only vehicles are measured (cars, motorcycles, buses, trucks, bicycles): a motorcycle's rider is
detected as a person riding along with it and would otherwise count twice.

A track that the tracker misses for a few frames keeps its last position for zone presence and
queues for ``presence_hold_s`` (a loop does not switch off because a detector blinked). All
per-track state lives in one :class:`~edge.track_table.TrackTable` and is dropped shortly after
the tracker ends the track. Everything is pure: no I/O, no threads, time from the stamps.

Example:
    >>> from edge.config_loader import parse_site
    >>> site = parse_site('''
    ... site_id: s
    ... cameras: [{id: cam, source: x.mp4}]
    ... model: {path: m.onnx}
    ... lines: [{id: l1, camera: cam, points: [[0, 100], [200, 100]]}]
    ... ''')
    >>> m = SiteMeasures(site, "cam")
    >>> for i, y in enumerate(range(60, 160, 10)):  # one car driving down across the line
    ...     car = Detections(xyxy=np.array([[90, y - 20, 110, y]], np.float32),
    ...                      confidence=np.array([0.9], np.float32), class_id=np.array([0]),
    ...                      tracker_id=np.array([1]))
    ...     _ = m.update(car, Stamp(i * 0.04, 1000.0 + i * 0.04))
    >>> m.totals().lines["l1"]["in"]
    {'car': 1}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.aggregate import DIRECTIONS, ApproachLayout, IntervalBins, Layout, Tally, class_counts
from edge.clock import Stamp
from edge.config import ApproachConfig, SiteConfig
from edge.counting import IN, LineCounter, MovementCounter
from edge.errors import ConfigError
from edge.geometry import Homography, Polygon, point_segment_distance
from edge.hires import PresenceDetector
from edge.messages import Aggregate, ClassCounts, HiResEvent
from edge.movement_inference import MovementInference
from edge.pcu import class_weights
from edge.speed import SpeedEstimator
from edge.track_table import TrackTable
from models.classes import MOTORISED, NUM_CLASSES, VehicleClass
from models.detections import Detections

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Classes that measures count (persons are riders or pedestrians, not traffic flow).
VEHICLE_CLASSES: tuple[VehicleClass, ...] = (*MOTORISED, VehicleClass.BICYCLE)
_IS_VEHICLE = np.zeros(NUM_CLASSES, dtype=bool)
_IS_VEHICLE[list(VEHICLE_CLASSES)] = True

#: A track missed by the detector keeps its last position in zones and queues this long.
PRESENCE_HOLD_S = 0.4
#: A track moves (its heading means something) at this many of its own widths per second in the
#: image and, with a calibration, this ground speed: a few pixels of jitter on a small, far box
#: read as metres per second on the ground.
_MOVING_MPS = 2.0
_MOVING_WIDTHS_PER_S = 0.5
#: A gap between frames longer than this is an outage: it counts as unobserved time.
MAX_GAP_S = 2.0


@dataclass(frozen=True)
class LiveApproach:
    """One approach right now, for the signal controller (read about once a second).

    Attributes:
        approach: approach id.
        window_s: observed seconds since the previous :meth:`SiteMeasures.live` call.
        occupied: a vehicle is in the stop-line zone now.
        occupancy: share of ``window_s`` the stop-line zone was occupied.
        queue_veh: vehicles queued now.
        queue_m: queue length now in metres (``None`` without calibration or stop line).
        arrivals: vehicles that entered the approach since the previous call, by class.
        stop_line_crossings: vehicles that crossed the stop line since the previous call, by class.
        flow_pcu: passenger-car units of the flow since the previous call.
        view_m: how far up the approach the camera sees, metres from the stop line (the far end
            of its queue zone; ``None`` without calibration): a queue this long may go on unseen.
        in_view: vehicles in the approach's zones now, queued or moving (``None`` without zones).
    """

    approach: str
    window_s: float
    occupied: bool
    occupancy: float
    queue_veh: int
    queue_m: float | None
    arrivals: ClassCounts = field(default_factory=dict)
    stop_line_crossings: ClassCounts = field(default_factory=dict)
    flow_pcu: float = 0.0
    view_m: float | None = None
    in_view: int | None = None


@dataclass(frozen=True)
class CountTotals:
    """Cumulative counts since the measures started.

    Attributes:
        lines: line id -> ``"in"``/``"out"`` -> class label -> vehicles.
        labels: line id -> (in_label, out_label) from the site file.
        movements: movement id -> class label -> vehicles.
    """

    lines: dict[str, dict[str, ClassCounts]]
    labels: dict[str, tuple[str, str]]
    movements: dict[str, ClassCounts]

    def line_total(self, line: str, direction: str) -> int:
        """All vehicles that crossed ``line`` in ``direction`` (``"in"`` or ``"out"``)."""
        return sum(self.lines[line][direction].values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: per line and direction its label, counts by class and total."""
        return {
            "lines": {
                lid: {
                    d: {"label": self.labels[lid][k], "counts": dict(self.lines[lid][d]), "total": self.line_total(lid, d)}
                    for k, d in enumerate(DIRECTIONS)
                }
                for lid in self.lines
            },
            "movements": {mid: {"counts": dict(c), "total": sum(c.values())} for mid, c in self.movements.items()},
        }


@dataclass
class _Approach:
    index: int  # position in this camera's layout
    config: ApproachConfig
    detector: PresenceDetector
    zone: Polygon | None
    queue_zone: Polygon | None
    stop_line: int | None  # index into this camera's counters
    pcu: F64
    stop_ground: tuple[F64, F64] | None  # stop line end points on the ground (metres)
    view_m: float | None  # how far up the approach the queue zone reaches (metres from the stop line)


class SiteMeasures:
    """All traffic measures of one camera of a site; a pure stage fed with tracks.

    Args:
        site: the site configuration.
        camera_id: the camera whose tracks :meth:`update` receives; only its lines, approaches,
            exits and calibration are used.

    Raises:
        ConfigError: unknown camera, degenerate calibration, or zero-length line.

    Example:
        >>> from edge.config_loader import parse_site
        >>> site = parse_site("site_id: s\\ncameras: [{id: c, source: x}]\\nmodel: {path: m}\\n")
        >>> m = SiteMeasures(site, "c")
        >>> m.update(Detections(tracker_id=np.zeros(0, np.int64)), Stamp(0.0, 0.0)), m.flush(Stamp(1.0, 15.0))
        ([], [Aggregate(kind='aggregate', start=0.0, duration_s=15.0, lines=[], movements=[], approaches=[])])
    """

    def __init__(self, site: SiteConfig, camera_id: str, presence_hold_s: float = PRESENCE_HOLD_S) -> None:
        known = [c.id for c in site.cameras]
        if camera_id not in known:
            raise ConfigError(f"unknown camera {camera_id!r} (known: {', '.join(known)})")
        self.site = site
        self.camera_id = camera_id
        m = site.measures
        self._hold = min(presence_hold_s, site.tracker.lost_after_s)
        # The tracker drops a track lost_after_s after its last detection; keep ours a little
        # longer so a late straggler frame cannot resurrect a half-forgotten track.
        self._horizon = site.tracker.lost_after_s + self._hold + 0.5
        self._table = TrackTable()
        self._table.add_column("cls", (), np.int64, 0)
        self._table.add_column("anchor", (2,), np.float64, np.nan)
        self._table.add_column("ground", (2,), np.float64, np.nan)
        self._table.add_column("v_px", (), np.float64, np.nan)
        self._table.add_column("best_conf", (), np.float32, 0.0)
        self._table.add_column("v_g", (), np.float64, np.nan)

        cal = [c for c in site.calibration if c.camera == camera_id]
        try:
            self.homography = Homography(cal[0].image_points, cal[0].ground_points) if cal else None
        except ConfigError as err:
            raise ConfigError(f"calibration of camera {camera_id!r}: {err}") from None
        self._speeds = SpeedEstimator(self._table, self.homography)

        lines = [ln for ln in site.lines if ln.camera == camera_id]
        # A track first seen on a stop or exit line has not crossed it yet (see LineCounter).
        junction_lines = {a.stop_line for a in site.approaches} | {e.line for e in site.exits}
        self._counters = [
            LineCounter(ln, m.line_hysteresis_px, self._table, band_side=-1 if ln.id in junction_lines else 0)
            for ln in lines
        ]
        line_pos = {ln.id: i for i, ln in enumerate(lines)}

        self._approaches: list[_Approach] = []
        for global_index, a in enumerate(site.approaches):
            if a.camera != camera_id:
                continue
            stop = line_pos.get(a.stop_line) if a.stop_line is not None else None
            if a.stop_line is not None and stop is None:
                log.warning("approach %s: stop line %s is on another camera; not used", a.id, a.stop_line)
            stop_ground = None
            view_m = None
            if stop is not None and self.homography is not None:
                seg = self._counters[stop].segment
                g = self.homography.to_ground(np.stack([seg.p0, seg.p1]))
                stop_ground = (g[0], g[1])
                if a.queue_zone:
                    corners = self.homography.to_ground(np.asarray(a.queue_zone, dtype=np.float64))
                    view_m = float(point_segment_distance(corners, *stop_ground).max())
            self._approaches.append(
                _Approach(
                    index=len(self._approaches),
                    config=a,
                    detector=PresenceDetector(min(global_index + 1, 255)),
                    zone=Polygon(a.zone) if a.zone else None,
                    queue_zone=Polygon(a.queue_zone) if a.queue_zone else None,
                    stop_line=stop,
                    pcu=class_weights(m.pcu, a.opposed),
                    stop_ground=stop_ground,
                    view_m=view_m,
                )
            )
            self._table.add_column(f"arrived:{a.id}", (), np.bool_, False)
        self._stop_of_line: dict[int, _Approach] = {
            ap.stop_line: ap for ap in self._approaches if ap.stop_line is not None
        }
        self._exits_of_line: dict[int, list[str]] = {}
        for e in site.exits:
            if e.line in line_pos:
                self._exits_of_line.setdefault(line_pos[e.line], []).append(e.id)
        here_approaches = {ap.config.id for ap in self._approaches}
        here_exits = {e for ids in self._exits_of_line.values() for e in ids}
        movements = []
        for mv in site.movements:
            if mv.approach in here_approaches and mv.exit in here_exits:
                movements.append((mv.id, mv.approach, mv.exit))
            elif mv.approach in here_approaches or mv.exit in here_exits:
                log.warning("movement %s spans two cameras; tracks cannot follow it, not counted", mv.id)
        self._infer = MovementInference(
            self._table, [c.segment for c in self._counters], MovementCounter(movements),
            approach_of_stop={ap.stop_line: ap.config.id for ap in self._approaches if ap.stop_line is not None},
            exit_of_line={line: ids[0] for line, ids in self._exits_of_line.items()},
            horizon_s=self._horizon, band_px=m.line_hysteresis_px,
        )
        self._movement_pos = {mid: i for i, (mid, _, _) in enumerate(movements)}

        self.layout = Layout(
            lines=tuple(ln.id for ln in lines),
            movements=tuple(mid for mid, _, _ in movements),
            approaches=tuple(
                ApproachLayout(
                    id=ap.config.id,
                    queue_m=ap.stop_ground is not None and ap.queue_zone is not None,
                    speed=self.homography is not None and ap.stop_line is not None,
                )
                for ap in self._approaches
            ),
        )
        self._labels = {ln.id: (ln.in_label, ln.out_label) for ln in lines}
        self._bins = IntervalBins(m.live_interval_s, self.layout)
        self._window = Tally(self.layout)
        self._total = Tally(self.layout)
        n_a = len(self._approaches)
        self._occupied = np.zeros(n_a)
        self._queue_veh = np.zeros(n_a)
        self._queue_m = np.full(n_a, np.nan)
        self._in_view = np.zeros(n_a, np.int64)
        self._prev: Stamp | None = None

    def reach_m(self) -> dict[str, float]:
        """How far up each approach the camera sees: metres from the stop line to the far end of
        its queue zone, on the ground (calibrated approaches with a stop line and a queue zone drawn
        on the road: a corner above the horizon has no place on the ground).

        A queue longer than this runs on out of view. On the twin's corner pole the far
        approaches are seen to the controller's range and the near ones, which pass below the
        camera, for about 9 m.
        """
        return {ap.config.id: ap.view_m for ap in self._approaches if ap.view_m is not None}

    @property
    def tracks_held(self) -> int:
        """Tracks with state in the measures (bounded by the live tracks)."""
        return len(self._table)

    @property
    def pending_movements(self) -> int:
        """Tracks that entered through an approach and have not left yet."""
        return len(self._infer.movements)

    def update(self, tracks: Detections, stamp: Stamp) -> list[HiResEvent]:
        """Take one frame's confirmed tracks; return the hi-res detector events it caused.

        Raises:
            ValueError: ``tracks`` has no ``tracker_id`` (untracked detections).
        """
        if tracks.tracker_id is None:
            raise ValueError("SiteMeasures.update needs tracks (Detections with tracker_id set)")
        is_vehicle = _IS_VEHICLE[tracks.class_id]
        veh = tracks if is_vehicle.all() else tracks[is_vehicle]
        assert veh.tracker_id is not None
        now = stamp.mono
        self._spend_time(stamp)
        tally = self._bins.at(stamp.wall)
        tallies = (tally, self._window, self._total)

        table = self._table
        rows = table.observe(veh.tracker_id, now)
        anchors = veh.anchors().astype(np.float64)
        widths = (veh.xyxy[:, 2] - veh.xyxy[:, 0]).astype(np.float64)
        ground = self._speeds.ground(anchors)
        table.col("cls")[rows] = veh.class_id
        best = table.col("best_conf")
        best[rows] = np.maximum(best[rows], veh.confidence)
        table.col("anchor")[rows] = anchors
        if ground is not None:
            table.col("ground")[rows] = ground
        v_px, v_g = self._speeds.update(rows, anchors, now, ground)
        table.col("v_px")[rows] = v_px
        fresh = self._infer.observe(rows)
        if v_g is not None:
            table.col("v_g")[rows] = v_g
        moving = v_px >= widths * _MOVING_WIDTHS_PER_S
        if v_g is not None:
            moving &= v_g >= _MOVING_MPS

        newborn = table.first_seen[rows] == now
        if newborn.any():
            for row, movement in self._infer.born(rows[newborn], anchors[newborn], widths[newborn], now):
                self._count_movement(row, movement, tallies)
        for i, counter in enumerate(self._counters):
            for row, direction in counter.update(rows, anchors, widths).tolist():
                self._count_crossing(i, row, direction, tallies)
        for row, line in self._infer.crossed_unseen(fresh):
            self._count_crossing(line, row, IN, tallies, seen=False)
        for row, ended, start in self._infer.switches(rows, moving, widths, now):
            if ended is not None:
                self._count_movement(row, ended, tallies)
            for counter in self._counters:  # the vehicle it follows now crosses lines afresh
                counter.restart(np.array([row]), start[None])

        events: list[HiResEvent] = []
        if self._approaches:
            events = self._zones(rows, stamp, tallies)
        if len(self._infer.movements):  # tracks are waiting to complete a movement
            for row, movement in self._infer.early_exits(now):
                self._count_movement(row, movement, tallies)
        gone = table.expire(now, self._horizon)
        if len(gone):
            self._infer.movements.forget(gone)
        return events

    def flush(self, stamp: Stamp, final: bool = False) -> list[Aggregate]:
        """Aggregates of the live intervals that ended by ``stamp`` (all open ones if ``final``)."""
        return self._bins.close(stamp.wall, final)

    def totals(self) -> CountTotals:
        """Cumulative counts per line, direction and class, and per movement."""
        t = self._total
        return CountTotals(
            lines={
                lid: {d: class_counts(t.lines[i, k]) for k, d in enumerate(DIRECTIONS)}
                for i, lid in enumerate(self.layout.lines)
            },
            labels=dict(self._labels),
            movements={mid: class_counts(t.movements[i]) for i, mid in enumerate(self.layout.movements)},
        )

    def live(self) -> dict[str, LiveApproach]:
        """Each approach now, with counts since the previous call (which this call resets)."""
        w = self._window
        occ = w.occupancy()
        out = {
            ap.config.id: LiveApproach(
                approach=ap.config.id,
                window_s=w.observed_s,
                occupied=bool(self._occupied[i]),
                occupancy=float(occ[i]),
                queue_veh=int(self._queue_veh[i]),
                queue_m=None if np.isnan(self._queue_m[i]) else float(self._queue_m[i]),
                arrivals=class_counts(w.arrivals[i]),
                stop_line_crossings=class_counts(w.crossings[i]),
                flow_pcu=float(w.flow_pcu[i]),
                view_m=ap.view_m,
                in_view=int(self._in_view[i]) if ap.zone is not None or ap.queue_zone is not None else None,
            )
            for i, ap in enumerate(self._approaches)
        }
        self._window = Tally(self.layout)
        return out

    # -- internals ------------------------------------------------------------------------------

    def _spend_time(self, stamp: Stamp) -> None:
        prev = self._prev
        self._prev = stamp
        if prev is None:
            return
        dt = stamp.mono - prev.mono
        if not 0.0 < dt <= MAX_GAP_S:
            if dt > MAX_GAP_S:
                log.info("measures: %.1f s without frames counts as unobserved", dt)
            return
        # The zone and queue state seen at the previous frame held until this one.
        occ = self._occupied if self._approaches else None
        queue = self._queue_veh if self._approaches else None
        self._bins.spend(prev.wall, stamp.wall, dt, occ, queue)
        self._window.spend(dt, occ, queue)

    def _count_movement(self, row: int, movement: str, tallies: tuple[Tally, ...], cls: int | None = None) -> None:
        cls = int(self._table.col("cls")[row]) if cls is None else cls
        for t in tallies:
            t.movements[self._movement_pos[movement], cls] += 1

    def _count_crossing(self, line: int, row: int, direction: int, tallies: tuple[Tally, ...], *,
                        seen: bool = True) -> None:
        """Count a crossing; one inferred (``seen=False``: a stop line crossed before the track was
        confirmed) counts at the line and its approach, and completes no movement."""
        cls = int(self._table.col("cls")[row])
        k = 0 if direction == IN else 1
        for t in tallies:
            t.lines[line, k, cls] += 1
        for exit_id in self._exits_of_line.get(line, ()) if seen else ():
            movement = self._infer.exit(row, exit_id)
            if movement is not None:
                self._count_movement(row, movement, tallies)
                break
        ap = self._stop_of_line.get(line)
        if ap is not None and direction == IN:
            handed_back = self._infer.enter(row, ap.config.id)
            if handed_back is not None:  # the movement it had taken over was another vehicle's
                self._count_movement(row, handed_back[0], tallies, cls=handed_back[1])
            speed = float(self._table.col("v_g")[row])
            for t in tallies:
                t.crossings[ap.index, cls] += 1
                t.flow_pcu[ap.index] += ap.pcu[cls]
                if ap.zone is None and ap.queue_zone is None:
                    t.arrivals[ap.index, cls] += 1
                if np.isfinite(speed):
                    t.speed_sum[ap.index] += speed
                    t.speed_n[ap.index] += 1

    def _zones(self, rows: npt.NDArray[np.int64], stamp: Stamp, tallies: tuple[Tally, ...]) -> list[HiResEvent]:
        table = self._table
        events: list[HiResEvent] = []
        present = np.flatnonzero(stamp.mono - table.last_seen <= self._hold)
        floor = self.site.measures.zone_min_confidence
        if floor > 0.0:
            present = present[table.col("best_conf")[present] >= floor]
        anchors = table.col("anchor")[present]
        cls = table.col("cls")[present]
        seen_now = table.last_seen[present] == stamp.mono
        calibrated = self.homography is not None
        speed = table.col("v_g")[present] if calibrated else table.col("v_px")[present]
        slow_limit = self.site.measures.queue_speed_mps if calibrated else self.site.measures.queue_speed_px_s
        slow = speed < slow_limit  # NaN (too new to know) is not slow
        for ap in self._approaches:
            i = ap.index
            in_zone = ap.zone.contains(anchors) if ap.zone is not None else np.zeros(len(present), bool)
            in_queue = ap.queue_zone.contains(anchors) if ap.queue_zone is not None else np.zeros(len(present), bool)
            if ap.zone is not None:
                occupied = bool(in_zone.any())
                self._occupied[i] = float(occupied)
                events.extend(ap.detector.update(occupied, stamp))
            if ap.zone is not None or ap.queue_zone is not None:
                self._in_view[i] = np.count_nonzero(in_zone | in_queue)
                arrived = table.col(f"arrived:{ap.config.id}")
                new = (in_zone | in_queue) & seen_now & ~arrived[present]
                if new.any():
                    arrived[present[new]] = True
                    by_class = np.bincount(cls[new], minlength=tallies[0].arrivals.shape[1])
                    pcu = float(by_class @ ap.pcu)
                    for t in tallies:
                        t.arrivals[i] += by_class
                        if ap.stop_line is None:
                            t.flow_pcu[i] += pcu
            if ap.queue_zone is not None:
                queued = in_queue & slow
                self._queue_veh[i] = float(np.count_nonzero(queued))
                if ap.stop_ground is not None and queued.any():
                    g = table.col("ground")[present[queued]]
                    self._queue_m[i] = float(point_segment_distance(g, *ap.stop_ground).max())
                elif ap.stop_ground is not None:
                    self._queue_m[i] = 0.0
        for t in tallies[:2]:
            t.see_queue(self._queue_veh, self._queue_m)
        return events
