"""The ByteTrack-style tracker on hand-built scenes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.clock import Stamp
from edge.config import TrackerConfig
from edge.track import Tracker, duplicate_mask, fold_duplicates, iou_matrix
from models.classes import VehicleClass
from models.detections import Detections

FPS = 25.0
CAR = VehicleClass.CAR
TRUCK = VehicleClass.TRUCK
MOTO = VehicleClass.MOTORCYCLE
PERSON = VehicleClass.PERSON


def dets(*boxes: Sequence[float]) -> Detections:
    """Detections from ``(x1, y1, x2, y2, score, class)`` tuples."""
    arr = np.array(boxes, dtype=np.float64).reshape(-1, 6)
    return Detections(xyxy=arr[:, :4].astype(np.float32), confidence=arr[:, 4].astype(np.float32), class_id=arr[:, 5].astype(np.int64))


def tids(d: Detections) -> list[int]:
    assert d.tracker_id is not None
    return [int(t) for t in d.tracker_id]


def at(i: int) -> Stamp:
    return Stamp(i / FPS, 1_700_000_000.0 + i / FPS)


def car_at(x: float, y: float, score: float = 0.9, cls: int = CAR) -> tuple[float, ...]:
    """A 40 x 30 px box with its top-left corner at ``(x, y)``."""
    return (x, y, x + 40.0, y + 30.0, score, cls)


def test_iou_matrix_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 100, (7, 2))
    a = np.hstack([a, a + rng.uniform(1, 40, (7, 2))])
    b = rng.uniform(0, 100, (5, 2))
    b = np.hstack([b, b + rng.uniform(1, 40, (5, 2))])
    got = iou_matrix(a, b)
    for i in range(7):
        for j in range(5):
            ix = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            iy = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            inter = ix * iy
            union = (a[i, 2] - a[i, 0]) * (a[i, 3] - a[i, 1]) + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]) - inter
            assert got[i, j] == pytest.approx(inter / union, rel=1e-5, abs=1e-6)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 5)


def test_confirmation_after_min_hits_and_stable_id() -> None:
    tracker = Tracker(TrackerConfig(min_hits=3), FPS)
    ids = []
    for i in range(20):
        out = tracker.update(dets(car_at(100 + 8 * i, 200)), at(i))
        ids.append(tids(out))
    assert ids[0] == []
    assert ids[1] == []
    assert all(x == [1] for x in ids[2:])


def test_output_follows_the_vehicle() -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    for i in range(30):
        out = tracker.update(dets(car_at(100 + 8 * i, 200)), at(i))
    np.testing.assert_allclose(out.xyxy[0], [100 + 8 * 29, 200, 140 + 8 * 29, 230], atol=2.0)
    assert out.class_id.tolist() == [CAR]


def test_detection_stride_predicts_between_detector_frames() -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    for i in range(12):
        tracker.update(dets(car_at(100 + 10 * i, 200)), at(i))
    # Detector runs every 3rd frame from now on; in between the track coasts at 10 px/frame.
    for i in range(12, 30):
        det = dets(car_at(100 + 10 * i, 200)) if i % 3 == 0 else None
        out = tracker.update(det, at(i))
        assert tids(out) == [1]
        assert out.xyxy[0, 0] == pytest.approx(100 + 10 * i, abs=3.0)


@pytest.mark.parametrize("stride", [2, 3, 4])
def test_a_fast_vehicle_first_seen_under_a_stride_gets_one_track(stride: int) -> None:
    # 12 px a frame: between detector runs the car moves more than its own 40 px width, so a
    # new track (no velocity yet) only matches with buffered boxes.
    tracker = Tracker(TrackerConfig(), FPS)
    seen: set[int] = set()
    for i in range(0, 60):
        det = dets(car_at(100 + 12 * i, 200)) if i % stride == 0 else None
        seen.update(tids(tracker.update(det, at(i))))
    assert seen == {1}


def test_low_score_detections_keep_a_track_alive() -> None:
    tracker = Tracker(TrackerConfig(high_threshold=0.5, low_threshold=0.1), FPS)
    for i in range(5):
        tracker.update(dets(car_at(100 + 5 * i, 200)), at(i))
    # Occlusion: the score drops to 0.2 for a while; the same id carries on (ByteTrack stage 2).
    for i in range(5, 15):
        out = tracker.update(dets(car_at(100 + 5 * i, 200, score=0.2)), at(i))
        assert tids(out) == [1]
    # Low-score boxes alone never start a track.
    for i in (15, 16, 17):
        assert tids(tracker.update(dets(car_at(600, 600, score=0.3)), at(i))) == []
    assert len(tracker) == 1  # only the (now lost) car


def test_missed_frames_keep_the_id_and_lost_tracks_end() -> None:
    cfg = TrackerConfig(lost_after_s=1.0)
    tracker = Tracker(cfg, FPS)
    for i in range(10):
        tracker.update(dets(car_at(100 + 6 * i, 200)), at(i))
    for i in range(10, 20):  # 0.4 s unseen: reported nowhere, but remembered
        assert len(tracker.update(Detections.empty(), at(i))) == 0
    out = tracker.update(dets(car_at(100 + 6 * 20, 200)), at(20))
    assert tids(out) == [1]
    for i in range(21, 21 + 30):  # 1.2 s unseen: ended, all state dropped
        tracker.update(Detections.empty(), at(i))
    assert len(tracker) == 0
    for i in range(60, 63):
        out = tracker.update(dets(car_at(100 + 6 * i, 200)), at(i))
    assert tids(out) == [2]


def test_crossing_vehicles_keep_their_ids() -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    first: dict[int, int] = {}
    for i in range(40):
        a = car_at(100 + 10 * i, 200)  # moving right
        b = car_at(500 - 10 * i, 215)  # moving left, passing in front of a
        out = tracker.update(dets(a, b), at(i))
        for tid, x in zip(tids(out), out.xyxy[:, 0].tolist(), strict=True):
            first.setdefault(tid, int(x < 300))
            # id 1 started on the left and must still be the one moving right, and vice versa.
            expected_x = 100 + 10 * i if first[tid] else 500 - 10 * i
            assert x == pytest.approx(expected_x, abs=6.0)
    assert sorted(first) == [1, 2]


def test_a_small_far_vehicle_that_turns_keeps_its_id() -> None:
    """A 6 x 8 px motorcycle moving most of its width per frame turns left at a junction (10 fps)."""
    tracker = Tracker(TrackerConfig(), 10.0)
    path, x, y, heading = [], 300.0, 100.0, 0.0
    for i in range(24):
        path.append((x, y))
        if 6 <= i < 11:
            heading += np.pi / 10  # a 90-degree turn over half a second
        x, y = x + 5.0 * np.cos(heading), y - 5.0 * np.sin(heading)
    seen: set[int] = set()
    for i, (x, y) in enumerate(path):
        out = tracker.update(dets((x, y, x + 6, y + 8, 0.9, MOTO)), Stamp(i / 10.0, 1.7e9 + i / 10.0))
        seen.update(tids(out))
    assert seen == {1}


def test_class_flicker_keeps_one_track_and_a_stable_class() -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    for i in range(30):
        cls = TRUCK if i % 4 == 3 else CAR  # a van the detector sometimes calls a truck
        out = tracker.update(dets(car_at(100 + 5 * i, 200, cls=cls)), at(i))
        if i >= 1:
            assert tids(out) == [1]
            assert out.class_id.tolist() == [CAR]


def test_rider_and_motorcycle_keep_separate_tracks() -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    for i in range(30):
        y = 300 - 6 * i
        moto = (200.0, y + 10, 230.0, y + 50, 0.8, MOTO)
        rider = (202.0, y, 228.0, y + 40, 0.8, PERSON)
        out = tracker.update(dets(moto, rider), at(i))
    by_class = dict(zip(out.class_id.tolist(), tids(out), strict=True))
    assert set(by_class) == {MOTO, PERSON}
    assert len(set(by_class.values())) == 2
    assert tracker.next_id == 3  # no id switches: exactly two ids handed out


def test_duplicate_boxes_of_confusable_classes_fold() -> None:
    van_car = (100.0, 100.0, 160.0, 150.0, 0.6, CAR)
    van_truck = (101.0, 100.0, 161.0, 151.0, 0.5, TRUCK)
    rider = (105.0, 95.0, 150.0, 150.0, 0.7, PERSON)
    other_car = (100.0, 160.0, 160.0, 210.0, 0.5, CAR)
    out = fold_duplicates(dets(van_car, van_truck, rider, other_car))
    assert sorted(out.class_id.tolist()) == sorted([CAR, PERSON, CAR])
    tracker = Tracker(TrackerConfig(), FPS)
    for i in range(5):
        result = tracker.update(dets(van_car, van_truck), at(i))
    assert len(result) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.floats(0.1, 1.0), st.sampled_from(list(VehicleClass))),
                max_size=14))
def test_duplicate_mask_matches_brute_force(boxes: list[tuple[int, int, float, VehicleClass]]) -> None:
    # Boxes on a coarse grid so that exact and near duplicates are common.
    xyxy = np.array([[10 * x, 10 * y, 10 * x + 30 + y, 10 * y + 20] for x, y, _, _ in boxes], np.float32).reshape(-1, 4)
    conf = np.array([c for _, _, c, _ in boxes], np.float32)
    cls = np.array([int(k) for _, _, _, k in boxes], np.int64)
    keep = duplicate_mask(xyxy, conf, cls)
    iou = iou_matrix(xyxy, xyxy)
    group = {CAR: 1, TRUCK: 1, VehicleClass.BUS: 1, MOTO: 2, VehicleClass.BICYCLE: 2, PERSON: 3}
    for j in range(len(boxes)):
        beaten = any(
            (conf[i] > conf[j] or (conf[i] == conf[j] and i < j))
            and cls[i] != cls[j]
            and group[VehicleClass(int(cls[i]))] == group[VehicleClass(int(cls[j]))]
            and iou[i, j] >= 0.7
            for i in range(len(boxes))
            if i != j
        )
        assert keep[j] == (not beaten)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="fps"):
        Tracker(TrackerConfig(), 0.0)
    with pytest.raises(ValueError, match="low_threshold"):
        Tracker(TrackerConfig(high_threshold=0.3, low_threshold=0.4), FPS)


def test_state_is_flat_on_a_long_stream() -> None:
    """Vehicles keep coming: the tracker's state stays at the size of the traffic in view."""
    tracker = Tracker(TrackerConfig(lost_after_s=1.0), FPS)
    rng = np.random.default_rng(7)
    lanes = np.array([100.0, 300.0, 500.0])
    cars: list[list[float]] = []  # [x, lane_y, speed]
    sizes = []
    for i in range(2000):  # 80 s of video, about 1 new car a second
        if rng.random() < 0.04:
            cars.append([0.0, float(rng.choice(lanes)), float(rng.uniform(8, 14))])
        for c in cars:
            c[0] += c[2]
        cars = [c for c in cars if c[0] < 1200]
        boxes = [car_at(c[0], c[1]) for c in cars if rng.random() > 0.05]  # 5% missed detections
        tracker.update(dets(*boxes) if boxes else Detections.empty(), at(i))
        sizes.append(len(tracker))
    assert max(sizes[-700:]) <= max(sizes[:1300]) + 5
    assert max(sizes) < 40
    assert tracker.next_id > 60  # many tracks came and went


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.floats(0, 600), st.floats(0, 400), st.floats(5, 80), st.floats(5, 80),
                      st.floats(0, 1), st.sampled_from(list(VehicleClass))),
            max_size=12,
        ),
        min_size=1,
        max_size=25,
    ),
    st.integers(1, 3),
)
def test_any_input_gives_valid_unique_confirmed_tracks(
    frames: list[list[tuple[float, float, float, float, float, VehicleClass]]], stride: int
) -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    for i, boxes in enumerate(frames):
        det = dets(*[(x, y, x + w, y + h, s, int(c)) for x, y, w, h, s, c in boxes]) if boxes else Detections.empty()
        out = tracker.update(det if i % stride == 0 else None, at(i))
        assert out.tracker_id is not None
        ids = tids(out)
        assert len(ids) == len(set(ids))
        assert all(1 <= t < tracker.next_id for t in ids)
        assert len(out) <= len(tracker)
