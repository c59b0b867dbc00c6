"""Interval binning and report roll-up."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.aggregate import ApproachLayout, IntervalBins, Layout, ReportBinner, Tally, merge
from edge.messages import Aggregate, ApproachMeasures, LineCount
from models.classes import VehicleClass

LAYOUT = Layout(lines=("l1",), movements=("m1",), approaches=(ApproachLayout("a", queue_m=True, speed=True),))


def test_time_between_frames_is_split_at_interval_boundaries() -> None:
    bins = IntervalBins(15.0, LAYOUT)
    occupied = np.array([1.0])
    bins.spend(prev_wall=10.0, wall=14.0, dt=4.0, occupied=occupied)
    bins.spend(prev_wall=14.0, wall=17.0, dt=3.0, occupied=occupied)  # 1 s before, 2 s after 15
    bins.spend(prev_wall=17.0, wall=29.0, dt=12.0, occupied=np.array([0.0]))
    first, second = bins.close(wall=30.0)
    assert (first.start, second.start) == (0.0, 15.0)
    assert first.approaches[0].occupancy == pytest.approx(1.0)
    assert second.approaches[0].occupancy == pytest.approx(2.0 / 14.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.001, 40.0), min_size=1, max_size=30), st.floats(0.0, 100.0))
def test_splitting_conserves_observed_time(gaps: list[float], t0: float) -> None:
    bins = IntervalBins(15.0, LAYOUT)
    t = t0
    for g in gaps:
        bins.spend(prev_wall=t, wall=t + g, dt=g, occupied=np.array([1.0]))
        t += g
    tallies = list(bins._open.values())
    assert sum(x.observed_s for x in tallies) == pytest.approx(sum(gaps))
    assert all(x.occupied_s[0] == pytest.approx(x.observed_s) for x in tallies)


def test_tally_to_aggregate() -> None:
    t = Tally(LAYOUT)
    t.lines[0, 0, VehicleClass.MOTORCYCLE] = 3
    t.lines[0, 1, VehicleClass.CAR] = 1
    t.movements[0, VehicleClass.BUS] = 2
    t.arrivals[0, VehicleClass.CAR] = 4
    t.flow_pcu[0] = 2.5
    t.spend(10.0, occupied=np.array([0.5]), queue_veh=np.array([3.0]))
    t.see_queue(np.array([5.0]), np.array([31.5]))
    t.speed_sum[0], t.speed_n[0] = 30.0, 3
    agg = t.to_aggregate(start=900.0, duration_s=15.0)
    assert agg.lines == [
        LineCount(line="l1", direction="in", counts={"motorcycle": 3}),
        LineCount(line="l1", direction="out", counts={"car": 1}),
    ]
    assert agg.movements[0].counts == {"bus": 2}
    a = agg.approaches[0]
    assert a.arrivals == {"car": 4}
    assert a.flow_pcu_h == pytest.approx(900.0)
    assert a.occupancy == pytest.approx(0.5)
    assert (a.queue_veh_mean, a.queue_veh_max, a.queue_m_max, a.speed_mps_mean) == (3.0, 5.0, 31.5, 10.0)


def test_final_flush_closes_the_open_interval_with_its_real_length() -> None:
    bins = IntervalBins(15.0, LAYOUT)
    bins.spend(prev_wall=30.0, wall=36.0, dt=6.0)
    assert bins.close(wall=36.0) == []
    (agg,) = bins.close(wall=36.0, final=True)
    assert (agg.start, agg.duration_s) == (30.0, 6.0)
    assert len(bins) == 0


def live(start: float, cars: int, occupancy: float, speed: float | None = None) -> Aggregate:
    return Aggregate(
        start=start,
        duration_s=15.0,
        lines=[LineCount(line="l1", direction="in", counts={"car": cars})],
        approaches=[
            ApproachMeasures(
                approach="a", arrivals={"car": cars}, flow_pcu_h=cars * 240.0, occupancy=occupancy,
                queue_veh_mean=1.0, queue_veh_max=float(cars), queue_m_max=None, speed_mps_mean=speed,
            )
        ],
    )


def test_report_binner_rolls_up_fifteen_minutes() -> None:
    rb = ReportBinner(900.0, 15.0, "Asia/Jakarta")
    out: list[Aggregate] = []
    for k in range(60 + 5):  # 15 min of 15-s aggregates, then the start of the next bin
        out += rb.add(live(k * 15.0, cars=k % 3, occupancy=0.2 if k < 30 else 0.4, speed=10.0 if k % 2 else 20.0))
    assert len(out) == 1
    rep = out[0]
    assert (rep.start, rep.duration_s) == (0.0, 900.0)
    assert rep.lines[0].counts == {"car": sum(k % 3 for k in range(60))}
    a = rep.approaches[0]
    assert a.occupancy == pytest.approx(0.3)
    assert a.queue_veh_max == 2.0
    assert a.flow_pcu_h == pytest.approx(sum(k % 3 for k in range(60)) * 240.0 / 60)
    # Speeds weigh by the vehicles they come from: odd intervals (10 m/s) had the cars 1 and 0.
    odd = sum(k % 3 for k in range(60) if k % 2)
    even = sum(k % 3 for k in range(60) if k % 2 == 0)
    assert a.speed_mps_mean == pytest.approx((10.0 * odd + 20.0 * even) / (odd + even))
    assert a.queue_m_max is None
    (tail,) = rb.flush()
    assert tail.start == 900.0
    assert rb.flush() == []


def test_report_bins_align_in_local_time() -> None:
    # Kathmandu is UTC+5:45: an hourly bin starts on the local hour, 15 minutes off UTC's.
    rb = ReportBinner(3600.0, 15.0, "Asia/Kathmandu")
    wall = datetime(2026, 3, 1, 8, 20, tzinfo=ZoneInfo("Asia/Kathmandu")).timestamp()
    start = rb.bin_start(wall)
    assert datetime.fromtimestamp(start, ZoneInfo("Asia/Kathmandu")).strftime("%H:%M") == "08:00"
    assert ReportBinner(3600.0, 15.0, "UTC").bin_start(wall) % 3600 == 0


@pytest.mark.parametrize(("report", "live_s", "tz"), [(900.0, 14.0, "UTC"), (10.0, 15.0, "UTC"), (900.0, 15.0, "Mars/Olympus")])
def test_report_binner_refuses_bad_settings(report: float, live_s: float, tz: str) -> None:
    with pytest.raises(ValueError, match=r"multiple|time zone"):
        ReportBinner(report, live_s, tz)


def test_merge_keeps_order_and_adds_counts() -> None:
    merged = merge([live(0.0, 2, 0.1), live(15.0, 3, 0.3)], start=0.0, duration_s=30.0)
    assert merged.lines == [LineCount(line="l1", direction="in", counts={"car": 5})]
    assert merged.approaches[0].arrivals == {"car": 5}
    assert merged.approaches[0].occupancy == pytest.approx(0.2)
