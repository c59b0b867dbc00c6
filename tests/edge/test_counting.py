"""Line crossings with hysteresis, and turning movements, on hand-built tracks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import LineConfig
from edge.counting import IN, OUT, LineCounter, MovementCounter
from edge.track_table import TrackTable

LINE = LineConfig(id="l", camera="c", points=((0, 100), (200, 100)))
H = 6.0


def run(ys: list[float], x: float = 100.0, line: LineConfig = LINE, band_side: int = 0) -> list[int]:
    """Directions counted for one track whose anchor moves through ``ys`` at column ``x``."""
    table = TrackTable()
    counter = LineCounter(line, H, table, band_side=band_side)
    out: list[int] = []
    for i, y in enumerate(ys):
        rows = table.observe(np.array([42]), now=i * 0.04)
        hits = counter.update(rows, np.array([[x, y]]))
        out.extend(int(d) for _, d in hits.tolist())
    return out


@pytest.mark.parametrize(
    ("ys", "expected"),
    [
        pytest.param([60, 80, 95, 105, 120, 140], [IN], id="straight-down-is-in"),
        pytest.param([140, 120, 105, 95, 80, 60], [OUT], id="straight-up-is-out"),
        pytest.param([60, 140], [IN], id="jumps-the-band-in-one-frame"),
        pytest.param([80, 97, 103, 97, 103, 97, 103, 99, 101], [], id="jitters-inside-band-never-leaves"),
        pytest.param([80, 97, 103, 97, 103, 97, 103, 130], [IN], id="jitters-then-goes-on"),
        pytest.param([80, 99, 100, 100, 100, 100, 101, 100, 130], [IN], id="stops-on-the-line"),
        pytest.param([80, 108, 92, 108, 92, 108, 130], [IN], id="wobbles-across-beyond-band-counts-once"),
        pytest.param([80, 120, 80], [IN], id="crosses-and-comes-back-counts-once"),
        pytest.param([100, 103, 120, 140], [], id="first-seen-on-the-line-side-unknown"),
        pytest.param([80, 90, 94, 90, 80], [], id="approaches-and-turns-back"),
        pytest.param([120, 130, 140], [], id="never-on-the-other-side"),
    ],
)
def test_crossings_with_hysteresis(ys: list[float], expected: list[int]) -> None:
    assert run([float(y) for y in ys]) == expected


@pytest.mark.parametrize(
    ("x", "counted"),
    [(-20.0, False), (-3.0, True), (0.0, True), (100.0, True), (203.0, True), (230.0, False)],
)
def test_crossing_only_within_the_segment(x: float, counted: bool) -> None:
    assert (run([60.0, 140.0], x=x) == [IN]) is counted


def run_path(points: list[tuple[float, float]], line: LineConfig = LINE) -> list[int]:
    """Directions counted for one track whose anchor visits ``points``."""
    table = TrackTable()
    counter = LineCounter(line, H, table)
    out: list[int] = []
    for i, p in enumerate(points):
        rows = table.observe(np.array([7]), now=i * 0.1)
        out.extend(int(d) for _, d in counter.update(rows, np.array([p], np.float64)).tolist())
    return out


@pytest.mark.parametrize(
    ("points", "counted"),
    [
        # Crosses at x = 195 heading right, next seen clear of the band past the end (x = 240).
        pytest.param([(150.0, 80.0), (172.0, 90.0), (240.0, 125.0)], True, id="diagonal-near-the-end-unseen-for-a-while"),
        # Crosses the line's extension at x = 235 and comes back into the segment's extent after.
        pytest.param([(250.0, 80.0), (220.0, 125.0)], False, id="crosses-beyond-the-end-then-drifts-in"),
    ],
)
def test_a_crossing_is_placed_where_the_path_met_the_line(points: list[tuple[float, float]], counted: bool) -> None:
    assert (run_path(points) == [IN]) is counted


@pytest.mark.parametrize(("width", "counted"), [(10.0, False), (200.0, True)])
def test_a_big_box_may_cross_a_little_past_the_end(width: float, counted: bool) -> None:
    """A bus's bottom-centre lies to the side of its wheels: 20 px past the end counts for a 200 px box."""
    table = TrackTable()
    counter = LineCounter(LINE, H, table)
    hits = []
    for i, y in enumerate((60.0, 140.0)):
        rows = table.observe(np.array([3]), now=i * 0.1)
        hits += counter.update(rows, np.array([[220.0, y]]), np.array([width])).tolist()
    assert bool(hits) is counted


@pytest.mark.parametrize(
    ("ys", "band_side", "expected"),
    [
        ([101.0, 99.0, 102.0, 110.0, 130.0], 0, []),  # first seen on the line: side unknown
        ([101.0, 99.0, 102.0, 110.0, 130.0], -1, [IN]),  # a stop line: it waited there, then went
        ([101.0, 99.0, 90.0, 80.0], -1, []),  # backed off the line: no crossing
        ([101.0, 99.0, 90.0, 110.0, 130.0], -1, [IN]),  # backed off, then crossed: once
        ([120.0, 101.0, 120.0], -1, []),  # first seen past the line: never crossed it here
    ],
)
def test_a_stop_line_takes_a_track_first_seen_on_it_as_not_yet_across(
    ys: list[float], band_side: int, expected: list[int],
) -> None:
    assert run(ys, band_side=band_side) == expected
    with pytest.raises(ValueError, match="band_side"):
        LineCounter(LINE, H, TrackTable(), band_side=2)


@pytest.mark.parametrize(("start_y", "band_side", "again"), [(80.0, 0, True), (101.0, -1, True), (101.0, 0, False)])
def test_a_restarted_track_counts_the_next_vehicles_crossing(start_y: float, band_side: int, again: bool) -> None:
    # A track crosses, then follows another vehicle (an identity switch) that stood at start_y and
    # drives down across the line in its turn: that is a second vehicle's crossing.
    table = TrackTable()
    counter = LineCounter(LINE, H, table, band_side=band_side)
    hits = []
    for i, y in enumerate((80.0, 120.0)):
        rows = table.observe(np.array([42]), now=i * 0.04)
        hits += counter.update(rows, np.array([[100.0, y]])).tolist()
    counter.restart(rows, np.array([[100.0, start_y]]))
    for i, y in enumerate((start_y, 130.0), start=2):
        rows = table.observe(np.array([42]), now=i * 0.04)
        hits += counter.update(rows, np.array([[100.0, y]])).tolist()
    assert [d for _, d in hits] == ([IN, IN] if again else [IN])


def test_several_tracks_in_one_frame() -> None:
    table = TrackTable()
    counter = LineCounter(LINE, H, table)
    ids = np.array([1, 2, 3])
    counter.update(table.observe(ids, 0.0), np.array([[10.0, 80.0], [50.0, 120.0], [90.0, 80.0]]))
    rows = table.observe(ids, 0.04)
    hits = counter.update(rows, np.array([[10.0, 120.0], [50.0, 80.0], [90.0, 99.0]]))
    got = sorted((int(table.ids[r]), d) for r, d in hits.tolist())
    assert got == [(1, IN), (2, OUT)]


def reference(ys: list[float]) -> list[int]:
    """The counting rule written plainly: sides outside the band; first change of side counts."""
    sides = [1 if y - 100 > H else -1 for y in ys if abs(y - 100) > H]
    for a, b in itertools.pairwise(sides):
        if a != b:
            return [IN if b == 1 else OUT]
    return []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(40, 160, allow_nan=False), min_size=1, max_size=40))
def test_matches_reference_rule_and_counts_at_most_once(ys: list[float]) -> None:
    got = run(ys)
    assert len(got) <= 1
    assert got == reference(ys)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-H * 0.99, H * 0.99, allow_nan=False), min_size=1, max_size=60),
    st.booleans(),
)
def test_jitter_within_the_band_never_changes_the_count(noise: list[float], downwards: bool) -> None:
    start, end = (70.0, 130.0) if downwards else (130.0, 70.0)
    ys = [start, *(100.0 + n for n in noise), end]
    assert run(ys) == [IN if downwards else OUT]


def test_state_goes_with_the_track() -> None:
    table = TrackTable()
    LineCounter(LINE, H, table)
    for i in range(1000):
        table.observe(np.array([i]), now=float(i))
        table.expire(now=float(i), horizon_s=5.0)
    assert len(table) <= 6
    assert all(len(table.col(name)) == len(table) for name in ("line:l:side", "line:l:counted"))


def test_movement_counter_pairs_entry_and_exit() -> None:
    m = MovementCounter([("n_left", "north", "east"), ("n_thru", "north", "south")])
    m.enter(1, "north")
    m.enter(2, "north")
    m.enter(3, "west")  # no movement from 'west' configured: not remembered
    assert len(m) == 2
    assert m.exit(1, "south") == "n_thru"
    assert m.exit(1, "south") is None  # counted once
    assert m.exit(2, "west") is None  # an exit that is no movement of 'north': keep waiting
    assert m.exit(2, "east") == "n_left"
    assert m.exit(99, "east") is None
    assert len(m) == 0


def test_movement_counter_is_bounded() -> None:
    m = MovementCounter([("mv", "a", "e")], max_pending=100)
    for tid in range(1000):
        m.enter(tid, "a")
    assert len(m) == 100
    assert m.evicted == 900
    assert m.exit(999, "e") == "mv"
    assert m.exit(0, "e") is None  # the oldest were evicted
    m.forget(np.arange(1000))
    assert len(m) == 0
