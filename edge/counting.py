"""Directional counts at counting lines (with hysteresis) and turning movements.

A :class:`LineCounter` follows each track's bottom-centre anchor (where the vehicle touches the
road) relative to one :class:`edge.config.LineConfig`. A band of ``hysteresis_px`` on each side of
the line is a dead zone: a track's *side* changes only when it is farther than that from the line,
and a crossing is a change of side. Each track counts at most once per line, so a vehicle that
jitters on the line, stops on it, or wobbles across it several times in a jam counts once (a
genuine U-turn across the same line is the price). A crossing counts only within the segment's
extent (plus the hysteresis), so a line can cover some lanes and not others. Stop and exit
lines are the exception to "only seen inside the band: side unknown": a vehicle standing on one
has not crossed it yet (``band_side``), so a track that begins there, as one re-identified in a
long red does, counts when it drives off across it.

A :class:`MovementCounter` remembers the approach through which each track entered (crossing an
approach's stop line in its ``in`` direction) and, when the same track later crosses an exit's
line (either direction, since the exit line may be drawn either way or be shared with the
opposite approach's stop line), counts the configured movement. Pending entries are bounded: they
go when the track ends, and a hard cap evicts the oldest.

Example:
    >>> from edge.config import LineConfig
    >>> from edge.track_table import TrackTable
    >>> table = TrackTable()
    >>> counter = LineCounter(LineConfig(id="l", camera="c", points=((0, 100), (200, 100))), 5.0, table)
    >>> for y in (80.0, 98.0, 103.0, 120.0):  # a car drives down across y = 100: 'in'
    ...     rows = table.observe(np.array([1]), now=0.0)
    ...     hits = counter.update(rows, np.array([[50.0, y]]))
    >>> hits.tolist()
    [[0, 1]]
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from edge.config import LineConfig
from edge.geometry import Segment
from edge.track_table import TrackTable

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Share of a box's width by which a crossing may fall beyond a segment's end and still count.
_WIDTH_SHARE = 0.25

#: Direction codes in the ``(row, direction)`` pairs returned by :meth:`LineCounter.update`.
IN = 1
OUT = -1


class LineCounter:
    """Crossings of one counting line, with hysteresis; state lives in a :class:`TrackTable`.

    Args:
        line: the line (its points, in full-frame pixels).
        hysteresis_px: half-width of the dead band around the line.
        table: the shared per-track table; this counter adds its columns to it.
        band_side: the side of a track seen only inside the band so far: 0 unknown (it counts
            from its first side clear of the band), or -1 for a stop or exit line (the side a
            vehicle comes from).
    """

    def __init__(self, line: LineConfig, hysteresis_px: float, table: TrackTable, band_side: int = 0) -> None:
        if band_side not in (-1, 0, 1):
            raise ValueError(f"band_side must be -1, 0 or 1, got {band_side}")
        self.band_side = band_side
        self.line = line
        self.segment = Segment(*line.points)
        self.hysteresis_px = float(hysteresis_px)
        self._table = table
        # Side per track: -1 (out side), +1 (in side), 0 (not yet known: only seen inside the band).
        self._side = f"line:{line.id}:side"
        self._done = f"line:{line.id}:counted"
        # Where each track was last seen clear of the band, and how far from the line it was.
        self._last = f"line:{line.id}:last"
        self._last_d = f"line:{line.id}:last_d"
        table.add_column(self._side, (), np.int8, 0)
        table.add_column(self._done, (), np.bool_, False)
        table.add_column(self._last, (2,), np.float64, 0.0)
        table.add_column(self._last_d, (), np.float64, 0.0)
        # Crossings within this distance past the segment ends still count (a box jitters too).
        self._margin = self.hysteresis_px / self.segment.length

    def restart(self, rows: I64, anchors: F64) -> None:
        """The tracks in ``rows`` follow other vehicles from now on, which stood at ``anchors``:
        their crossings so far were another vehicle's, and where they stand sets their side."""
        d = self.segment.signed_distance(anchors)
        side = self._sides(d)
        on_line = side == 0
        self._table.col(self._side)[rows] = np.where(on_line, np.int8(self.band_side), side)
        self._table.col(self._done)[rows] = False
        self._table.col(self._last)[rows] = anchors
        self._table.col(self._last_d)[rows] = np.where(on_line, 0.0, d)

    def _sides(self, d: F64) -> npt.NDArray[np.int8]:
        """Side of each signed distance ``d``: +1 or -1 clear of the band, 0 inside it."""
        return np.where(d > self.hysteresis_px, 1, np.where(d < -self.hysteresis_px, -1, 0)).astype(np.int8)

    def update(self, rows: I64, anchors: F64, widths: F64 | None = None) -> I64:
        """Record the anchors of the tracks in ``rows``; return ``(K, 2)`` ``(row, IN|OUT)`` crossings.

        ``widths`` (the boxes' widths in pixels) widen the segment's tolerance at its ends for big
        boxes: the bottom-centre of a bus seen obliquely lies well to the side of its wheels.
        """
        if len(rows) == 0:
            return np.zeros((0, 2), np.int64)
        side = self._table.col(self._side)
        done = self._table.col(self._done)
        last = self._table.col(self._last)
        last_d = self._table.col(self._last_d)
        d = self.segment.signed_distance(anchors)
        now_side = self._sides(d)
        before = side[rows]
        decided = now_side != 0
        if self.band_side:
            # A track first seen in the band stands on the line, on its ``band_side``; should it
            # cross, it crossed where it stood.
            on_line = (before == 0) & ~decided
            before = np.where(on_line, np.int8(self.band_side), before)
            last[rows[on_line]] = anchors[on_line]
            last_d[rows[on_line]] = 0.0
        side[rows] = np.where(decided, now_side, before)
        flipped = decided & (before != 0) & (before != now_side)
        crossed = bool(flipped.any())
        if crossed:
            # Whether the crossing lies on the segment is judged where the path met the line (on
            # the straight line between the last position clear of the band and this one), not
            # where the vehicle is now: a vehicle crossing near a segment end, diagonally or
            # after a few frames unseen, may be past the end by the time it is clear of the band.
            p0, d0 = last[rows[flipped]], last_d[rows[flipped]]
            p1, d1 = anchors[flipped], d[flipped]
            crossing = p0 + (p1 - p0) * (d0 / (d0 - d1))[:, None]
            t = self.segment.along(crossing)
            margin = np.full(len(t), self._margin)
            if widths is not None:
                margin = np.maximum(margin, _WIDTH_SHARE * widths[flipped] / self.segment.length)
        decided_rows = rows[decided]
        last[decided_rows] = anchors[decided]
        last_d[decided_rows] = d[decided]
        if not crossed:  # the usual frame: nobody crossed
            return np.zeros((0, 2), np.int64)
        count = np.zeros(len(rows), dtype=bool)
        count[flipped] = (t >= -margin) & (t <= 1.0 + margin)
        count &= ~done[rows]
        done[rows[count]] = True
        hits = rows[count]
        return np.stack([hits, now_side[count].astype(np.int64)], axis=1)


class MovementCounter:
    """Turning movements: entry approach, then exit, of the same track.

    Args:
        movements: ``(movement_id, approach_id, exit_id)`` triples.
        max_pending: most entries remembered at once; the oldest is dropped beyond it.

    Example:
        >>> m = MovementCounter([("n_left", "north", "east_out")])
        >>> m.enter(5, "north"); m.exit(5, "east_out"), m.exit(5, "east_out")
        ('n_left', None)
    """

    def __init__(self, movements: list[tuple[str, str, str]], max_pending: int = 4096) -> None:
        self._by_pair = {(a, e): mid for mid, a, e in movements}
        self._approaches = {a for _, a, _ in movements}
        self._pending: OrderedDict[int, str] = OrderedDict()
        self.max_pending = max_pending
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._pending)

    def enter(self, track_id: int, approach_id: str) -> None:
        """The track entered the junction through ``approach_id``."""
        if approach_id not in self._approaches:
            return
        self._pending[track_id] = approach_id
        self._pending.move_to_end(track_id)
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
            self.evicted += 1

    def exit(self, track_id: int, exit_id: str) -> str | None:
        """The track crossed ``exit_id``'s line: the movement id it completed, if any."""
        approach = self._pending.get(track_id)
        if approach is None:
            return None
        movement = self._by_pair.get((approach, exit_id))
        if movement is not None:
            del self._pending[track_id]
        return movement

    def __contains__(self, track_id: object) -> bool:
        """Whether the track entered and has not completed a movement yet."""
        return track_id in self._pending

    def movement_of(self, approach_id: str, exit_id: str) -> str | None:
        """The movement from ``approach_id`` to ``exit_id``, if the site has one."""
        return self._by_pair.get((approach_id, exit_id))

    def pending_ids(self) -> I64:
        """Ids of the tracks that entered and have not completed a movement yet."""
        return np.fromiter(self._pending.keys(), np.int64, len(self._pending))

    def adopt(self, track_id: int, from_id: int) -> bool:
        """Hand ``from_id``'s unfinished movement to ``track_id`` (the same vehicle under a new id).

        Example:
            >>> m = MovementCounter([("n_left", "north", "east_out")])
            >>> m.enter(5, "north"); m.adopt(9, 5), m.exit(9, "east_out")
            (True, 'n_left')
        """
        if track_id in self._pending or from_id not in self._pending:
            return False
        self._pending[track_id] = self._pending.pop(from_id)
        return True

    def forget(self, track_ids: I64) -> None:
        """Drop the entries of tracks that ended."""
        if self._pending:
            for tid in track_ids.tolist():
                self._pending.pop(tid, None)
