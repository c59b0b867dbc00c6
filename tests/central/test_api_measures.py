"""The pure cores behind the measures endpoints: binning aggregates and ATSPM phase measures."""

from __future__ import annotations

import pytest

from central.atspm import phase_measures
from central.measures import bin_aggregates, bins_to_csv
from edge.messages import Aggregate, ApproachMeasures

A = "north"


def agg(start: float, *, duration: float = 60.0, flow: float = 600.0, occ: float = 0.2, queue: float = 2.0,
        qmax: float = 5.0, speed: float | None = 10.0) -> Aggregate:
    return Aggregate(start=start, duration_s=duration, approaches=[ApproachMeasures(
        approach=A, arrivals={"car": 1}, flow_pcu_h=flow, occupancy=occ, queue_veh_mean=queue,
        queue_veh_max=qmax, speed_mps_mean=speed,
    )])


def test_bins_weight_by_duration_and_take_maxima() -> None:
    (b,) = bin_aggregates([agg(0, duration=60, flow=600, qmax=3), agg(60, duration=120, flow=1200, qmax=8)], 0, 900, 900)
    ab = b.approaches[A]
    assert ab.flow_pcu_h == pytest.approx((600 * 60 + 1200 * 120) / 180)
    assert ab.queue_veh_max == 8.0
    assert (b.intervals, b.covered_s, ab.arrivals) == (2, 180.0, {"car": 2})


def test_speed_mean_ignores_intervals_without_speed() -> None:
    (b,) = bin_aggregates([agg(0, speed=None), agg(60, speed=12.0)], 0, 120, 120)
    assert b.approaches[A].speed_mps_mean == pytest.approx(12.0)
    (empty,) = bin_aggregates([agg(0, speed=None)], 0, 60, 60)
    assert empty.approaches[A].speed_mps_mean is None


@pytest.mark.parametrize(
    ("starts", "expected"),
    [
        ([0, 899, 900, 1799], [2, 2]),   # half-open bins
        ([-60, 1800], [0, 0]),           # outside the range is ignored
        ([], [0, 0]),                    # empty bins are kept, so gaps show
    ],
)
def test_bin_assignment(starts: list[float], expected: list[int]) -> None:
    assert [b.intervals for b in bin_aggregates([agg(s) for s in starts], 0, 1800, 900)] == expected


def test_last_bin_is_clipped_to_range_end() -> None:
    bins = bin_aggregates([], 0, 1000, 900)
    assert [(b.start, b.end) for b in bins] == [(0, 900), (900, 1000)]
    with pytest.raises(ValueError, match="positive"):
        bin_aggregates([], 0, 10, 0)


def test_csv_has_one_row_per_bin_and_approach() -> None:
    text = bins_to_csv(bin_aggregates([agg(0), agg(900)], 0, 1800, 900))
    lines = text.strip().splitlines()
    assert lines[0].startswith("bin_start_utc,bin_start,bin_s,scope,id,car,motorcycle")
    assert lines[1].startswith("1970-01-01T00:00:00Z,0,900,approach,north,1,0,0,0,0,0,1,600.0,0.200")
    assert len(lines) == 3


def cycle(g: float, y: float, r: float, end_code: int) -> list[tuple[float, int, int]]:
    return [(g, 1, 2), (y, end_code, 2), (y, 8, 2), (r, 10, 2)]


@pytest.mark.parametrize(
    ("detector", "split_failure"),
    [
        ([(0.5, 82, 2), (33.0, 81, 2)], True),     # occupied through green and the first 5 s of red
        ([(0.5, 82, 2), (20.0, 81, 2)], False),    # cleared before yellow: red was empty
        ([(15.0, 82, 2), (33.0, 81, 2)], False),   # green occupancy only about 50 %
    ],
)
def test_split_failure_needs_both_occupancies(detector: list[tuple[float, int, int]], split_failure: bool) -> None:
    m = phase_measures(cycle(0, 24, 28, 5) + detector, 0, 100)[2]
    assert m.split_failures == int(split_failure)
    assert (m.greens, m.max_outs, m.gap_outs) == (1, 1, 0)


def test_arrivals_on_green_and_platoon_ratio() -> None:
    events = cycle(0, 30, 34, 4) + [(t, 82, 2) for t in (5, 10, 20, 40, 50)] + [(t + 0.5, 81, 2) for t in (5, 10, 20, 40, 50)]
    m = phase_measures(events, 0, 60)[2]
    assert (m.arrivals, m.arrivals_on_green) == (5, 3)
    assert m.percent_on_green == pytest.approx(60.0)
    assert m.platoon_ratio == pytest.approx(0.6 / 0.5)


def test_channel_mapping_routes_detectors_to_phases() -> None:
    events = [*cycle(0, 30, 34, 4), (5.0, 82, 7), (5.5, 81, 7)]
    assert phase_measures(events, 0, 60)[2].arrivals == 0
    assert phase_measures(events, 0, 60, channels={7: 2})[2].arrivals == 1
