"""Speeds, PCU weights, hi-res detector events and the track table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.clock import Stamp
from edge.config import PcuConfig
from edge.geometry import Homography
from edge.hires import DETECTOR_OFF, DETECTOR_ON, PresenceDetector
from edge.pcu import class_weights
from edge.speed import SpeedEstimator
from edge.track_table import TrackTable
from models.classes import VehicleClass


def test_speed_is_robust_to_jitter_and_uses_the_ground_plane() -> None:
    table = TrackTable()
    # 20 px = 1 m along y; x is squeezed 2:1 so a ground metre is 10 px across.
    h = Homography([(0, 0), (100, 0), (100, 100), (0, 100)], [(0, 0), (10, 0), (10, 5), (0, 5)])
    speeds = SpeedEstimator(table, h)
    rng = np.random.default_rng(0)
    ids = np.array([1, 2])
    stopped_px: list[float] = []
    stopped_mps: list[float] = []
    for i in range(50):
        now = i * 0.04
        rows = table.observe(ids, now)
        stopped = np.array([300.0, 200.0]) + rng.normal(0, 2.0, 2)  # 2 px jitter, not moving
        moving = np.array([100.0, 100.0 + 100.0 * now])  # 100 px/s down = 5 m/s on the ground
        px, mps = speeds.update(rows, np.stack([stopped, moving]), now)
        assert mps is not None
        if i < 7:  # less than 0.3 s of history
            assert np.isnan(px).all()
        elif i >= 25:
            stopped_px.append(px[0])
            stopped_mps.append(mps[0])
    # A frame-to-frame difference would read the 2 px jitter as about 70 px/s; the window keeps a
    # standing vehicle well below the default queue thresholds (15 px/s, 1.5 m/s).
    assert max(stopped_px) < 12.0
    assert max(stopped_mps) < 1.0
    assert mps is not None
    assert px[1] == pytest.approx(100.0, rel=0.02)
    assert mps[1] == pytest.approx(5.0, rel=0.02)


def test_speed_without_calibration() -> None:
    table = TrackTable()
    speeds = SpeedEstimator(table, homography=None)
    rows = table.observe(np.array([1]), 0.0)
    px, mps = speeds.update(rows, np.array([[0.0, 0.0]]), 0.0)
    assert mps is None
    assert np.isnan(px[0])
    assert speeds.update(np.zeros(0, np.int64), np.zeros((0, 2)), 0.1)[0].shape == (0,)


@pytest.mark.parametrize(
    ("cls", "opposed", "weight"),
    [
        (VehicleClass.CAR, False, 1.0),
        (VehicleClass.BUS, False, 1.3),
        (VehicleClass.TRUCK, True, 1.3),
        (VehicleClass.MOTORCYCLE, False, 0.15),
        (VehicleClass.MOTORCYCLE, True, 0.40),
        (VehicleClass.BICYCLE, True, 0.0),
        (VehicleClass.PERSON, True, 0.0),
    ],
)
def test_pkji_2023_weights(cls: VehicleClass, opposed: bool, weight: float) -> None:
    assert class_weights(PcuConfig(), opposed)[cls] == weight


def test_pcu_weights_follow_the_config() -> None:
    w = class_weights(PcuConfig(motorcycle_protected=0.2, heavy=1.5), opposed=False)
    assert (w[VehicleClass.MOTORCYCLE], w[VehicleClass.TRUCK]) == (0.2, 1.5)


def test_presence_detector_events() -> None:
    det = PresenceDetector(channel=4)
    seq = [False, True, True, False, False, True, False]
    events = [e for i, occ in enumerate(seq) for e in det.update(occ, Stamp(i * 0.1, 1000.0 + i * 0.1234))]
    assert [(e.code, e.param) for e in events] == [(DETECTOR_ON, 4), (DETECTOR_OFF, 4), (DETECTOR_ON, 4), (DETECTOR_OFF, 4)]
    assert events[0].ts == 1000.123  # millisecond resolution
    with pytest.raises(ValueError, match="channel"):
        PresenceDetector(0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 60), max_size=10, unique=True), max_size=40))
def test_track_table_rows_follow_ids(frames: list[list[int]]) -> None:
    table = TrackTable()
    table.add_column("last", (), np.int64, -1)
    for t, ids in enumerate(frames):
        rows = table.observe(np.array(ids, np.int64), now=float(t))
        table.col("last")[rows] = ids
        assert table.ids[rows].tolist() == ids
        assert np.all(np.diff(table.ids) > 0)
        assert np.array_equal(table.col("last")[rows], ids)
        table.expire(now=float(t), horizon_s=3.0)
        assert np.all(float(t) - table.last_seen <= 3.0)
        assert len(table.col("last")) == len(table)


def test_track_table_refuses_a_second_column_of_the_same_name() -> None:
    table = TrackTable()
    table.add_column("x", (), np.int64, 0)
    with pytest.raises(ValueError, match="exists"):
        table.add_column("x", (), np.int64, 0)
