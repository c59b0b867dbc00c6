"""MovementInference on a hand-built track table: identities handed between tracks."""

from __future__ import annotations

import numpy as np

from edge.counting import MovementCounter
from edge.geometry import Segment
from edge.movement_inference import MovementInference
from edge.track_table import TrackTable

MOTO = 1


def _inference() -> tuple[TrackTable, MovementInference]:
    table = TrackTable()
    table.add_column("cls", (), np.int64, 0)
    table.add_column("anchor", (2,), np.float64, np.nan)
    table.add_column("v_px", (), np.float64, np.nan)
    table.add_column("speed:vel", (2,), np.float64, np.nan)
    table.add_column("speed:gvel", (2,), np.float64, np.nan)
    # North stop line along y = 100 (the junction below it), the east exit line across x = 300.
    infer = MovementInference(
        table, [Segment((0, 100), (200, 100)), Segment((300, 200), (300, 0))],
        MovementCounter([("n_left", "n", "e"), ("w_through", "w", "e")]),
        approach_of_stop={0: "n"}, exit_of_line={1: "e"}, horizon_s=2.0, band_px=6.0,
    )
    return table, infer


def _see(table: TrackTable, track_id: int, at: tuple[float, float], vel: tuple[float, float], *, now: float,
         cls: int = 0) -> int:
    row = int(table.observe(np.array([track_id]), now)[0])
    table.col("anchor")[row] = at
    table.col("speed:vel")[row] = vel
    table.col("v_px")[row] = float(np.hypot(*vel))
    table.col("cls")[row] = cls
    return row


def test_a_track_that_took_over_a_movement_and_then_enters_hands_it_back() -> None:
    table, infer = _inference()
    _see(table, 5, (100.0, 130.0), (100.0, 0.0), now=0.0, cls=MOTO)  # a motorcycle in the junction...
    infer.movements.enter(5, "n")
    # ...vanishes; half a second later a track is born on its way, within its reach: it takes over.
    row = _see(table, 6, (180.0, 130.0), (0.0, 0.0), now=0.5)
    assert infer.born(np.array([row]), table.col("anchor")[[row]], np.array([20.0]), now=0.5) == []
    assert 6 in infer.movements
    assert 5 not in infer.movements
    # Track 6 is then seen to cross a stop line into the junction: it is another vehicle, queued
    # there. The motorcycle left by the exit it was heading for, and counts as itself.
    assert infer.enter(row, "w") == ("n_left", MOTO)
    assert infer.exit(row, "e") == "w_through"


def test_a_track_that_enters_without_having_taken_over_anything_only_enters() -> None:
    table, infer = _inference()
    row = _see(table, 6, (180.0, 90.0), (0.0, 40.0), now=0.0)
    assert infer.enter(row, "w") is None
    assert infer.exit(row, "e") == "w_through"


def test_a_vehicle_lost_inside_the_exit_band_and_back_beyond_it_completes_its_movement() -> None:
    table, infer = _inference()
    _see(table, 5, (298.0, 130.0), (100.0, 0.0), now=0.0)
    infer.movements.enter(5, "n")
    _see(table, 5, (302.0, 130.0), (100.0, 0.0), now=0.1)  # 2 px past the exit line: inside its band
    row = _see(table, 6, (312.0, 130.0), (0.0, 0.0), now=0.3)  # back as track 6, clear of the band
    assert infer.born(np.array([row]), table.col("anchor")[[row]], np.array([20.0]), now=0.3) == [(row, "n_left")]
