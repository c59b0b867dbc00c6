"""SiteMeasures on a synthetic intersection with hand-built tracks."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge.clock import Stamp
from edge.config import SiteConfig
from edge.config_loader import parse_site
from edge.errors import ConfigError
from edge.measure import SiteMeasures
from models.classes import VehicleClass
from models.detections import Detections

FPS = 25.0
T0 = 1_700_000_100.0  # a multiple of 15 s and of 15 min
CAR, MOTO, TRUCK, PERSON = VehicleClass.CAR, VehicleClass.MOTORCYCLE, VehicleClass.TRUCK, VehicleClass.PERSON

# One camera sees the north approach: traffic comes down the image, the stop line is at y = 400,
# the virtual loop just before it, the queue storage above it; turning vehicles leave to the
# right across the exit line at x = 1000. Ground calibration: 10 px = 1 m. The south approach
# is on another camera and comes first in the file, so 'north' is detector channel 2.
SITE = """
site_id: test-junction
cameras:
  - {id: cam, source: a.mp4, frame_size: [1280, 720]}
  - {id: cam2, source: b.mp4}
model: {path: m.onnx}
lines:
  - {id: north_stop, camera: cam, points: [[400, 400], [800, 400]]}
  - {id: east_exit, camera: cam, points: [[1000, 700], [1000, 300]]}
  - {id: south_stop, camera: cam2, points: [[0, 10], [100, 10]]}
approaches:
  - {id: south, camera: cam2, stop_line: south_stop}
  - id: north
    camera: cam
    stop_line: north_stop
    zone: [[400, 340], [800, 340], [800, 400], [400, 400]]
    queue_zone: [[400, 100], [800, 100], [800, 400], [400, 400]]
    opposed: %(opposed)s
exits:
  - {id: east_out, line: east_exit}
movements:
  - {id: north_left, approach: north, exit: east_out, turn: left}
  - {id: south_left, approach: south, exit: east_out, turn: left}
calibration:
  - camera: cam
    image_points: [[0, 0], [1280, 0], [1280, 720], [0, 720]]
    ground_points: [[0, 0], [128, 0], [128, 72], [0, 72]]
measures: {live_interval_s: 15, line_hysteresis_px: 6}
"""

Track = tuple[int, int, float, float]  # (track id, class, anchor x, anchor y)


def site(opposed: bool = False, calibrated: bool = True) -> SiteConfig:
    text = SITE % {"opposed": str(opposed).lower()}
    if not calibrated:
        text = text[: text.index("calibration:")] + text[text.index("measures:") :]
    return parse_site(text)


def frame(tracks: list[Track]) -> Detections:
    if not tracks:
        return Detections(tracker_id=np.zeros(0, np.int64))
    arr = np.array(tracks, dtype=np.float64)
    x, y = arr[:, 2], arr[:, 3]
    return Detections(
        xyxy=np.stack([x - 20, y - 30, x + 20, y], axis=1),
        confidence=np.full(len(arr), 0.9),
        class_id=arr[:, 1].astype(np.int64),
        tracker_id=arr[:, 0].astype(np.int64),
    )


def stamp(i: int) -> Stamp:
    return Stamp(i / FPS, T0 + i / FPS)


class Scene:
    """Feeds frames to a SiteMeasures and keeps the events."""

    def __init__(self, m: SiteMeasures) -> None:
        self.m = m
        self.i = 0
        self.events: list[tuple[float, int, int]] = []

    def step(self, tracks: list[Track]) -> None:
        for e in self.m.update(frame(tracks), stamp(self.i)):
            self.events.append((e.ts, e.code, e.param))
        self.i += 1


def drive_through_and_turn(scene: Scene, tid: int, cls: int = CAR, start_y: float = 50.0) -> None:
    """Down the approach at 250 px/s (25 m/s), over the stop line, then right to the exit."""
    y = start_y
    while y < 500:
        scene.step([(tid, cls, 600.0, y)])
        y += 10.0
    x = 600.0
    while x < 1100:
        scene.step([(tid, cls, x, 500.0)])
        x += 10.0


def test_drive_through_counts_everything_once() -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    drive_through_and_turn(scene, tid=7)
    totals = m.totals()
    assert totals.lines["north_stop"] == {"in": {"car": 1}, "out": {}}
    assert totals.lines["east_exit"] == {"in": {"car": 1}, "out": {}}
    assert totals.movements == {"north_left": {"car": 1}}
    assert totals.line_total("north_stop", "in") == 1
    assert totals.as_dict()["lines"]["north_stop"]["in"] == {"label": "in", "counts": {"car": 1}, "total": 1}
    live = m.live()["north"]
    assert live.arrivals == {"car": 1}
    assert live.stop_line_crossings == {"car": 1}
    assert live.flow_pcu == pytest.approx(1.0)
    # The loop switched on when the car entered the zone (y = 340 at frame 29) and off when it
    # left (y = 400, the zone's lower edge, at frame 35).
    assert [(code, param) for _, code, param in scene.events] == [(82, 2), (81, 2)]
    on, off = scene.events[0][0], scene.events[1][0]
    assert on == pytest.approx(T0 + 29 / FPS, abs=1e-3)
    assert off == pytest.approx(T0 + 35 / FPS, abs=1e-3)
    assert m.pending_movements == 0


def _into_the_junction_and_lost(scene: Scene, tid: int, stop_x: float) -> None:
    """Over the stop line as ``tid``, turning right at 250 px/s, lost at x = ``stop_x``."""
    y = 300.0
    while y < 500:
        scene.step([(tid, CAR, 600.0, y)])
        y += 10.0
    x = 600.0
    while x <= stop_x:
        scene.step([(tid, CAR, x, 500.0)])
        x += 10.0


@pytest.mark.parametrize(
    ("hidden_frames", "reborn_x", "counted"),
    [
        (8, 690.0, True),  # hidden behind a bus for 0.3 s, back under a new id where it would be
        (8, 1050.0, False),  # a new track far from where the car vanished is another vehicle
        # Gone for 2.4 s: too long to hand the movement on, but the car was lost on its way to the
        # exit, so the movement is completed when its track ends; track 8 is not counted again.
        (60, 690.0, True),
    ],
)
def test_a_vehicle_back_under_a_new_id_keeps_its_movement(hidden_frames: int, reborn_x: float, counted: bool) -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    _into_the_junction_and_lost(scene, 7, 620.0)  # over the stop line, turning right...
    for _ in range(hidden_frames):  # ...unseen...
        scene.step([])
    x = reborn_x
    while x < 1100:  # ...and seen again as track 8, on to the exit
        scene.step([(8, CAR, x, 500.0)])
        x += 10.0
    assert m.totals().movements["north_left"] == ({"car": 1} if counted else {})


@pytest.mark.parametrize(
    ("reborn_x", "then_dx", "steps", "counted_at"),
    [
        # Behind a bus standing between the camera and the exit: back past the exit line at once.
        (1040.0, 10.0, 5, "reborn"),
        # A track born behind where the car vanished, going the other way, is another vehicle: the
        # car's movement stays its own and completes when its track ends, heading for the exit.
        (700.0, -10.0, 40, "end"),
    ],
)
def test_a_new_id_takes_a_movement_only_on_the_vanished_vehicles_way(
    reborn_x: float, then_dx: float, steps: int, counted_at: str,
) -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    _into_the_junction_and_lost(scene, 7, 800.0)  # over the stop line, turning right at 250 px/s...
    for _ in range(20):  # ...hidden for 0.8 s, as far as the exit
        scene.step([])
    x = reborn_x
    for _ in range(steps):
        scene.step([(8, CAR, x, 500.0)])
        x += then_dx
    counted_now = m.totals().movements["north_left"]
    for _ in range(100):  # both tracks end
        scene.step([])
    assert counted_now == ({"car": 1} if counted_at == "reborn" else {})
    assert m.totals().movements["north_left"] == {"car": 1}
    assert m.pending_movements == 0


def test_a_vehicle_first_seen_past_the_stop_line_entered_there() -> None:
    # Found only after the stop line (small and far): it entered from the north all the same.
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    x = 600.0
    while x < 1100:
        scene.step([(5, MOTO, x, 480.0)])
        x += 10.0
    assert m.totals().movements["north_left"] == {"motorcycle": 1}


@pytest.mark.parametrize(("first_y", "step_px", "counted"), [(420.0, 10.0, True), (600.0, 2.0, False)])
def test_a_vehicle_confirmed_just_past_the_stop_line_crossed_it(first_y: float, step_px: float, counted: bool) -> None:
    # Confirmed 20 px past the stop line at 250 px/s: it crossed it 0.08 s before it was first
    # seen. One first seen 200 px past it, creeping at 50 px/s, would have crossed it 4 s before:
    # that is not a crossing the tracker just missed.
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    y = first_y
    while y < 660.0:
        scene.step([(4, CAR, 600.0, y)])
        y += step_px
    live = m.live()["north"]
    assert live.stop_line_crossings == ({"car": 1} if counted else {})
    assert m.totals().lines["north_stop"]["in"] == ({"car": 1} if counted else {})
    if counted:  # and the vehicle has entered: its movement completes at the exit
        x = 600.0
        while x < 1100:
            scene.step([(4, CAR, x, 660.0)])
            x += 10.0
        assert m.totals().movements["north_left"] == {"car": 1}


def test_a_track_born_far_from_every_stop_line_has_no_movement() -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    x = 600.0
    while x < 1100:  # on the approach side of the stop line all the way, straight to the exit
        scene.step([(5, CAR, x, 380.0)])
        x += 10.0
    assert m.totals().lines["east_exit"]["in"] == {"car": 1}
    assert m.totals().movements["north_left"] == {}


@pytest.mark.parametrize(("lost_at_x", "counted"), [(900.0, True), (560.0, False)])
def test_a_vehicle_lost_short_of_its_exit_left_through_it(lost_at_x: float, counted: bool) -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    y = 300.0
    while y < 500:  # over the stop line
        scene.step([(7, CAR, 600.0, y)])
        y += 10.0
    x = 600.0 if lost_at_x > 600 else 560.0
    while x <= lost_at_x:  # towards the exit, then never seen again
        scene.step([(7, CAR, x, 500.0)])
        x += 10.0
    for _ in range(100):  # 4 s: the track ends
        scene.step([])
    assert m.totals().movements["north_left"] == ({"car": 1} if counted else {})
    assert m.pending_movements == 0


@pytest.mark.parametrize(("step_px", "counted"), [(10.0, True), (2.0, False)])
def test_a_vehicle_lost_on_its_way_to_a_far_exit_left_through_it_if_it_would_get_there_soon(
    step_px: float, counted: bool,
) -> None:
    # Lost 410 px short of the exit, beyond the nearest-line reach (its line is 400 px long), but
    # heading straight for it: at 250 px/s it would be there in 1.6 s; at 50 px/s in 8.2 s.
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    y = 300.0
    while y < 500:
        scene.step([(7, CAR, 420.0, y)])
        y += 10.0
    x = 420.0
    while x <= 590.0:
        scene.step([(7, CAR, x, 500.0)])
        x += step_px
    for _ in range(100):
        scene.step([])
    assert m.totals().movements["north_left"] == ({"car": 1} if counted else {})
    assert m.pending_movements == 0


# Two approaches meet: north (down the image, stop line at y = 400) and west (rightwards, stop line
# at x = 300); both may leave to the east across x = 1000.
CROSSROADS = """
site_id: crossroads
cameras: [{id: cam, source: a.mp4, frame_size: [1280, 720]}]
model: {path: m.onnx}
lines:
  - {id: north_stop, camera: cam, points: [[400, 400], [600, 400]]}
  - {id: west_stop, camera: cam, points: [[300, 600], [300, 420]]}
  - {id: east_exit, camera: cam, points: [[1000, 700], [1000, 300]]}
approaches:
  - {id: north, camera: cam, stop_line: north_stop}
  - {id: west, camera: cam, stop_line: west_stop}
exits: [{id: east_out, line: east_exit}]
movements:
  - {id: north_left, approach: north, exit: east_out, turn: left}
  - {id: west_through, approach: west, exit: east_out, turn: through}
measures: {line_hysteresis_px: 6}
"""


def test_a_vehicle_first_seen_in_the_junction_entered_where_it_came_from_not_at_the_nearest_line() -> None:
    # First seen at (450, 560): 150 px past the west stop line and 160 px past the north one, but
    # driving down the image, away from the north stop line; it then turns left to the east exit.
    m = SiteMeasures(parse_site(CROSSROADS), "cam")
    scene = Scene(m)
    for y in (560.0, 570.0, 580.0, 590.0, 600.0, 610.0, 620.0, 630.0, 640.0, 650.0):
        scene.step([(3, CAR, 450.0, y)])
    x = 460.0
    while x < 1100:
        scene.step([(3, CAR, x, 650.0)])
        x += 10.0
    assert m.totals().movements == {"north_left": {"car": 1}, "west_through": {}}


def test_live_counts_are_since_the_previous_call() -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    drive_through_and_turn(scene, tid=1)
    first = m.live()["north"]
    assert first.stop_line_crossings == {"car": 1}
    assert first.window_s == pytest.approx((scene.i - 1) / FPS)
    second = m.live()["north"]
    assert second.arrivals == {}
    assert second.stop_line_crossings == {}
    assert second.window_s == 0.0


def test_queue_in_vehicles_and_metres() -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    queued = [(i, CAR, 600.0, y) for i, y in enumerate([390.0, 330.0, 270.0, 210.0, 150.0], start=1)]
    for k in range(40):  # 1.6 s standing still, one car drives through the queue zone at 25 m/s
        scene.step([*queued, (99, CAR, 500.0, 110.0 + 10 * k)])
    live = m.live()["north"]
    assert live.queue_veh == 5
    assert live.in_view == 5  # the car that drove through has left the zones
    assert live.queue_m == pytest.approx(25.0)  # stop line at y = 400 (40 m), last car at 150 (15 m)
    assert live.occupied
    # The queue shrinks as the head car leaves.
    for k in range(20):
        scene.step([*queued[1:], (1, CAR, 600.0, 390.0 + 15 * k)])
    assert m.live()["north"].queue_veh == 4


def test_vehicles_in_view_count_the_queued_and_the_moving() -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    for k in range(30):  # two cars stand in the queue, one drives down towards them
        scene.step([(1, CAR, 600.0, 390.0), (2, CAR, 600.0, 330.0), (3, CAR, 500.0, 110.0 + 5 * k)])
    live = m.live()["north"]
    assert (live.queue_veh, live.in_view) == (2, 3)


def test_queue_without_calibration_uses_pixel_speed() -> None:
    m = SiteMeasures(site(calibrated=False), "cam")
    scene = Scene(m)
    for k in range(30):
        # One car creeps at 10 px/s (queued under 15 px/s), one rolls at 50 px/s.
        scene.step([(1, CAR, 600.0, 200.0 + 0.4 * k), (2, CAR, 700.0, 150.0 + 2.0 * k)])
    live = m.live()["north"]
    assert live.queue_veh == 1
    assert live.queue_m is None
    aggs = m.flush(stamp(scene.i), final=True)
    north = aggs[0].approaches[0]
    assert north.queue_m_max is None
    assert north.speed_mps_mean is None


@pytest.mark.parametrize(("floor", "queued"), [(0.0, 2), (0.5, 1)])
def test_zones_can_ignore_tracks_that_never_scored_high(floor: float, queued: int) -> None:
    cfg = site(calibrated=False)
    cfg = cfg.model_copy(update={"measures": cfg.measures.model_copy(update={"zone_min_confidence": floor})})
    m = SiteMeasures(cfg, "cam")
    for k in range(30):
        # A real car (score 0.8) and a phantom (score 0.2, a shadow), both standing in the queue zone.
        dets = frame([(1, CAR, 600.0, 200.0), (2, CAR, 700.0, 250.0)])
        dets = Detections(xyxy=dets.xyxy, confidence=np.array([0.8, 0.2], np.float32), class_id=dets.class_id,
                          tracker_id=dets.tracker_id)
        m.update(dets, stamp(k))
    assert m.live()["north"].queue_veh == queued


def test_occupancy_as_a_loop_detector_and_interval_aggregates() -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    # 15 s interval: a car stands in the zone for the first 6 s, then drives off.
    n = int(15 * FPS)
    for k in range(n + 1):
        y = 380.0 + max(0, k - 6 * FPS + 1) * 25.0
        scene.step([(1, CAR, 600.0, y)] if y < 720 else [])
    aggs = m.flush(stamp(scene.i - 1))
    assert len(aggs) == 1
    agg = aggs[0]
    assert agg.start == T0
    assert agg.duration_s == 15.0
    north = agg.approaches[0]
    assert north.approach == "north"
    assert north.occupancy == pytest.approx(6.0 / 15.0, abs=0.02)
    assert north.queue_veh_max == 1
    assert north.queue_veh_mean == pytest.approx((6.0 - 0.3) / 15.0, abs=0.03)  # queued once its speed is known
    assert [(lc.line, lc.direction) for lc in agg.lines] == [
        ("north_stop", "in"), ("north_stop", "out"), ("east_exit", "in"), ("east_exit", "out")
    ]
    assert [mc.movement for mc in agg.movements] == ["north_left"]
    # The next interval is still open until its end.
    assert m.flush(stamp(scene.i - 1)) == []
    assert [a.start for a in m.flush(stamp(scene.i), final=True)] == [T0 + 15.0]


def test_flow_speed_and_counts_in_aggregates() -> None:
    m = SiteMeasures(site(opposed=True), "cam")
    scene = Scene(m)
    for tid, cls in enumerate([CAR, MOTO, MOTO, TRUCK, PERSON], start=1):
        drive_through_and_turn(scene, tid=tid, cls=cls)
    aggs = m.flush(stamp(scene.i), final=True)
    lines = {(lc.line, lc.direction): lc.counts for a in aggs for lc in a.lines if lc.counts}
    assert lines[("north_stop", "in")] == {"car": 1, "motorcycle": 2, "truck": 1}  # the person is not traffic
    north = [a.approaches[0] for a in aggs]
    observed = (scene.i - 1) / FPS
    pcu = 1.0 + 2 * 0.40 + 1.3
    assert sum(a.flow_pcu_h * d for a, d in zip(north, [x.duration_s for x in aggs], strict=True)) / observed == pytest.approx(
        pcu / observed * 3600.0, rel=0.02
    )
    speeds = [a.speed_mps_mean for a in north if a.speed_mps_mean is not None]
    assert speeds
    assert all(s == pytest.approx(25.0, rel=0.05) for s in speeds)


def test_protected_approach_weighs_motorcycles_less() -> None:
    flows = []
    for opposed in (False, True):
        m = SiteMeasures(site(opposed=opposed), "cam")
        scene = Scene(m)
        for tid in range(1, 5):
            drive_through_and_turn(scene, tid=tid, cls=MOTO)
        flows.append(m.live()["north"].flow_pcu)
    assert flows == pytest.approx([4 * 0.15, 4 * 0.40])


def test_outage_is_not_reported_as_empty_intervals() -> None:
    m = SiteMeasures(site(), "cam")
    m.update(frame([]), Stamp(0.0, T0 + 1.0))
    m.update(frame([]), Stamp(0.04, T0 + 1.04))
    # The camera is down for a minute; frames resume in a later interval.
    m.update(frame([]), Stamp(60.0, T0 + 61.0))
    m.update(frame([]), Stamp(60.04, T0 + 61.04))
    aggs = m.flush(Stamp(100.0, T0 + 100.0))
    assert [a.start for a in aggs] == [T0, T0 + 60.0]


def test_state_is_bounded_on_a_long_stream() -> None:
    """20 minutes of simulated traffic: per-track state stays at the size of the live traffic."""
    m = SiteMeasures(site(), "cam")
    rng = np.random.default_rng(3)
    cars: list[list[float]] = []  # [id, x, y, phase]
    next_id = 1
    held = []
    for i in range(1200 * 2):  # 2 frames a second keeps the test fast
        if rng.random() < 0.3:
            cars.append([next_id, 600.0, 50.0, 0.0])
            next_id += 1
        for c in cars:
            if c[2] < 500:
                c[2] += 60.0
            else:
                c[1] += 60.0
        cars = [c for c in cars if c[1] < 1200]
        m.update(frame([(int(c[0]), CAR, c[1], c[2]) for c in cars]), Stamp(i / 2, T0 + i / 2))
        held.append(m.tracks_held)
        if i % 30 == 0:
            m.live()
            m.flush(Stamp(i / 2, T0 + i / 2))
    assert max(held) < 30
    assert m.pending_movements < 10
    totals = m.totals()
    assert totals.line_total("north_stop", "in") == pytest.approx(next_id - 1, abs=8)
    assert sum(totals.movements["north_left"].values()) == pytest.approx(next_id - 1, abs=8)


def test_bad_use_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="unknown camera 'nope'"):
        SiteMeasures(site(), "nope")
    m = SiteMeasures(site(), "cam")
    untracked = Detections(xyxy=np.zeros((1, 4), np.float32), confidence=np.ones(1, np.float32), class_id=np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="tracker_id"):
        m.update(untracked, stamp(0))
    with caplog.at_level(logging.WARNING):
        SiteMeasures(site(), "cam2")
    assert "south_left spans two cameras" in caplog.text


def test_degenerate_calibration_is_a_config_error() -> None:
    text = SITE % {"opposed": "false"}
    text = text.replace("ground_points: [[0, 0], [128, 0], [128, 72], [0, 72]]", "ground_points: [[0, 0], [1, 1], [2, 2], [3, 3]]")
    with pytest.raises(ConfigError, match="calibration of camera 'cam'"):
        SiteMeasures(parse_site(text), "cam")


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_tracker_and_measures_count_every_car_once_under_a_stride(stride: int) -> None:
    """Detector boxes -> Tracker -> SiteMeasures, with the detector run every ``stride`` frames."""
    from edge.track import Tracker  # noqa: PLC0415 - only this test needs the tracker

    s = site()
    tracker = Tracker(s.tracker, FPS)
    m = SiteMeasures(s, "cam")
    rng = np.random.default_rng(stride)
    # A car every second, 60 px long, 9 px a frame (about 3.7 car lengths a second, 60 km/h).
    starts = [i * 25 for i in range(10)]
    for i in range(starts[-1] + 80):
        boxes = []
        for k, t0 in enumerate(starts):
            y = 100.0 + 9.0 * (i - t0)
            if i >= t0 and y < 700:
                x = 500.0 + 80.0 * (k % 3) + rng.normal(0, 1.0)
                boxes.append((x - 25, y - 60 + rng.normal(0, 1.0), x + 25, y + rng.normal(0, 1.0)))
        det = None
        if i % stride == 0:
            arr = np.array(boxes, np.float32).reshape(-1, 4)
            det = Detections(xyxy=arr, confidence=np.full(len(arr), 0.8, np.float32), class_id=np.zeros(len(arr), np.int64))
        m.update(tracker.update(det, stamp(i)), stamp(i))
    assert m.totals().lines["north_stop"] == {"in": {"car": 10}, "out": {}}
    assert m.live()["north"].arrivals == {"car": 10}


# Two opposing flows side by side: north traffic comes down the image at x = 540 and leaves at
# the bottom; south traffic goes up at x = 580 and leaves at the top.
OPPOSING = """
site_id: opposing
cameras: [{id: cam, source: a.mp4, frame_size: [1280, 1000]}]
model: {path: m.onnx}
lines:
  - {id: north_stop, camera: cam, points: [[400, 400], [560, 400]]}
  - {id: south_exit, camera: cam, points: [[400, 800], [560, 800]]}
  - {id: south_stop, camera: cam, points: [[720, 800], [560, 800]]}
  - {id: north_exit, camera: cam, points: [[720, 400], [560, 400]]}
approaches:
  - {id: north, camera: cam, stop_line: north_stop}
  - {id: south, camera: cam, stop_line: south_stop}
exits:
  - {id: south_out, line: south_exit}
  - {id: north_out, line: north_exit}
movements:
  - {id: north_through, approach: north, exit: south_out, turn: through}
  - {id: south_through, approach: south, exit: north_out, turn: through}
calibration:
  - camera: cam
    image_points: [[0, 0], [1280, 0], [1280, 1000], [0, 1000]]
    ground_points: [[0, 0], [128, 0], [128, 100], [0, 100]]
measures: {line_hysteresis_px: 6}
"""


@pytest.mark.parametrize("turned_back", [True, False])
def test_a_track_that_turns_back_has_switched_vehicles_and_both_movements_count(turned_back: bool) -> None:
    # Track 1, northbound from the south, stops in the junction at (580, 590). Track 2 comes
    # south over the north stop line and, as it passes, takes over the stopped car's detections
    # (its own car is hidden and never seen again); track 1 ends. When the stopped car drives on
    # north, track 2 turns back: it was the southbound car until then (which carried on to the
    # south exit it was heading for) and is the northbound one (track 1's movement) from then on.
    # A track that stops and drives on the way it came is one car: it counts once.
    m = SiteMeasures(parse_site(OPPOSING), "cam")
    scene = Scene(m)
    for y in np.arange(900.0, 590.0, -10.0):
        scene.step([(1, CAR, 580.0, y)])
    y = 250.0
    while y <= 560.0:
        scene.step([(1, CAR, 580.0, 590.0), (2, CAR, 540.0, y)])
        y += 10.0
    x, y = (580.0, 590.0) if turned_back else (540.0, 560.0)
    for _ in range(25):  # 1 s standing
        scene.step([(2, CAR, x, y)])
    for _ in range(40):  # then on: up the image (turned back) or down it
        y += -10.0 if turned_back else 10.0
        scene.step([(2, CAR, x, y)])
    for _ in range(100):
        scene.step([])
    expected = {"north_through": {"car": 1}, "south_through": {"car": 1}} if turned_back else {
        "north_through": {"car": 1}, "south_through": {}}
    assert m.totals().movements == expected
    assert m.pending_movements == 0


def test_a_track_whose_heading_swings_round_in_small_steps_has_switched_vehicles() -> None:
    # Track 2 comes south over the north stop line and leaves by the south exit, at the corner it
    # shares with the south stop line (which sees it back out). Below, the track slides sideways
    # onto a northbound car coming in and follows it north. No frame's heading is more than 90
    # degrees from the last one's, but against where it was heading a second before it turned
    # back: it follows another car, whose stop-line crossing counts afresh (as in the twin's live
    # loop, where such a car was never seen to enter and its movement was lost).
    m = SiteMeasures(parse_site(OPPOSING), "cam")
    scene = Scene(m)
    for y in np.arange(250.0, 900.0, 10.0):
        scene.step([(2, CAR, 560.0, y)])
    for x in np.arange(560.0, 660.0, 10.0):
        scene.step([(2, CAR, x, 900.0)])
    for y in np.arange(900.0, 250.0, -10.0):
        scene.step([(2, CAR, 660.0, y)])
    for _ in range(100):
        scene.step([])
    assert m.totals().movements == {"north_through": {"car": 1}, "south_through": {"car": 1}}


def test_a_vehicle_lost_on_the_exit_line_left_by_it() -> None:
    # Last seen 3 px past the exit line: inside its dead band, so the line never counted it, yet
    # the vehicle was leaving; when its track ends the movement completes there.
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    _into_the_junction_and_lost(scene, 7, 990.0)
    scene.step([(7, CAR, 1003.0, 500.0)])
    assert m.totals().movements["north_left"] == {}
    for _ in range(150):
        scene.step([])
    assert m.totals().movements["north_left"] == {"car": 1}


@pytest.mark.parametrize(
    ("born_at", "counted"),
    [
        # Born behind the vanished car, near the stop line, after it was lost: another vehicle.
        ((650.0, 420.0), 2),
        # Born where the car went: its ghost, not counted a second time.
        ((960.0, 500.0), 1),
    ],
)
def test_a_ghost_is_born_only_where_the_vanished_vehicle_went(born_at: tuple[float, float], counted: int) -> None:
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    _into_the_junction_and_lost(scene, 7, 900.0)
    for _ in range(25):  # lost for a second
        scene.step([])
    x, y = born_at
    for _ in range(150):  # track 9 waits there (track 7 ends meanwhile, its exit inferred)...
        scene.step([(9, CAR, x, y)])
    while x < 1100:  # ...then drives off across the exit line
        scene.step([(9, CAR, x, y)])
        x += 10.0
    for _ in range(150):
        scene.step([])
    assert m.totals().movements["north_left"] == {"car": counted}


def test_a_vehicle_comes_back_as_one_ghost_not_two() -> None:
    # Two tracks are born where the lost car went: one is the car again, the other a vehicle of
    # its own (before, a vanished vehicle marked every track born in its reach for 6 s).
    m = SiteMeasures(site(), "cam")
    scene = Scene(m)
    _into_the_junction_and_lost(scene, 7, 900.0)
    for _ in range(50):  # lost for 2 s: too long for either to take over its movement
        scene.step([])
    for _ in range(150):
        scene.step([(8, CAR, 950.0, 480.0), (9, CAR, 960.0, 530.0)])
    x = 950.0
    while x < 1100:
        scene.step([(8, CAR, x, 480.0), (9, CAR, x + 10.0, 530.0)])
        x += 10.0
    for _ in range(150):
        scene.step([])
    assert m.totals().movements["north_left"] == {"car": 2}
