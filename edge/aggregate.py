"""Fixed-interval binning of measures into :class:`edge.messages.Aggregate` messages.

* :class:`Tally` accumulates one interval's counts and time integrals (occupied seconds, queue
  vehicle-seconds) in arrays, cheap to add to every frame, and turns into an ``Aggregate``.
* :class:`IntervalBins` keeps the open live intervals (``live_interval_s``, 15 s by default),
  aligned to multiples of the interval in Unix time, and hands out those that have closed. An
  interval without a single observation (camera down) is never emitted, so an outage never
  reads as "no traffic".
* :class:`ReportBinner` rolls closed live aggregates up into report bins (``report_interval_s``,
  15 minutes by default) aligned in the site's time zone, as traffic engineers tabulate them.

Rates are computed over the *observed* seconds of an interval, so a partial first or last
interval (or one with a short outage) still reports a true flow rate.

Example:
    >>> layout = Layout(lines=(), movements=(), approaches=())
    >>> bins = IntervalBins(15.0, layout)
    >>> bins.spend(prev_wall=14.0, wall=16.0, dt=2.0)
    >>> [(a.start, a.duration_s) for a in bins.close(wall=30.0)]
    [(0.0, 15.0), (15.0, 15.0)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from edge.messages import Aggregate, ApproachMeasures, ClassCounts, LineCount, MovementCount
from models.classes import NUM_CLASSES, VehicleClass

F64 = npt.NDArray[np.float64]

#: Direction index of ``Tally.lines``: 0 is ``in``, 1 is ``out``.
DIRECTIONS: tuple[str, str] = ("in", "out")

_LABELS = [c.label for c in VehicleClass]


def class_counts(row: npt.NDArray[np.integer]) -> ClassCounts:
    """Non-zero entries of a per-class count vector, keyed by class label."""
    return {_LABELS[i]: int(v) for i, v in enumerate(row.tolist()) if v}


@dataclass(frozen=True)
class ApproachLayout:
    """What an approach can measure, fixing which optional fields its aggregates carry."""

    id: str
    queue_m: bool
    speed: bool


@dataclass(frozen=True)
class Layout:
    """Ids of the lines, movements and approaches that one camera's aggregates report."""

    lines: tuple[str, ...]
    movements: tuple[str, ...]
    approaches: tuple[ApproachLayout, ...]


class Tally:
    """Counts and time integrals of one interval (or one ``live()`` window).

    Attributes:
        lines: ``(lines, 2, classes)`` crossings by direction (``DIRECTIONS``) and class.
        movements: ``(movements, classes)`` completed turning movements.
        arrivals: ``(approaches, classes)`` vehicles entering each approach.
        crossings: ``(approaches, classes)`` stop-line crossings (entries into the junction).
        flow_pcu: ``(approaches,)`` passenger-car units of the flow (crossings, else arrivals).
        observed_s: seconds of this interval during which frames arrived.
        occupied_s: ``(approaches,)`` seconds the stop-line zone was occupied.
        queue_veh_s: ``(approaches,)`` integral of the queue length over time (vehicle-seconds).
        queue_veh_max, queue_m_max: ``(approaches,)`` longest queue seen (``queue_m_max`` NaN: none).
        speed_sum, speed_n: ``(approaches,)`` sum and number of spot-speed samples (m/s).
        last_wall: the latest wall time recorded into this tally.
    """

    def __init__(self, layout: Layout) -> None:
        n_a = len(layout.approaches)
        self.layout = layout
        self.lines = np.zeros((len(layout.lines), 2, NUM_CLASSES), np.int64)
        self.movements = np.zeros((len(layout.movements), NUM_CLASSES), np.int64)
        self.arrivals = np.zeros((n_a, NUM_CLASSES), np.int64)
        self.crossings = np.zeros((n_a, NUM_CLASSES), np.int64)
        self.flow_pcu = np.zeros(n_a)
        self.observed_s = 0.0
        self.occupied_s = np.zeros(n_a)
        self.queue_veh_s = np.zeros(n_a)
        self.queue_veh_max = np.zeros(n_a)
        self.queue_m_max = np.full(n_a, np.nan)
        self.speed_sum = np.zeros(n_a)
        self.speed_n = np.zeros(n_a, np.int64)
        self.last_wall = -math.inf

    def spend(self, dt: float, occupied: F64 | None = None, queue_veh: F64 | None = None) -> None:
        """Add ``dt`` observed seconds during which the zones and queues were in the given state."""
        self.observed_s += dt
        if occupied is not None:
            self.occupied_s += dt * occupied
        if queue_veh is not None:
            self.queue_veh_s += dt * queue_veh

    def see_queue(self, queue_veh: F64, queue_m: F64) -> None:
        """Record the queues of this moment for the maxima (``queue_m`` NaN where unknown)."""
        np.maximum(self.queue_veh_max, queue_veh, out=self.queue_veh_max)
        self.queue_m_max = np.fmax(self.queue_m_max, queue_m)

    def occupancy(self) -> F64:
        """``(approaches,)`` share of observed time each stop-line zone was occupied."""
        if self.observed_s <= 0.0:
            return np.zeros_like(self.occupied_s)
        return np.asarray(np.clip(self.occupied_s / self.observed_s, 0.0, 1.0), dtype=np.float64)

    def to_aggregate(self, start: float, duration_s: float) -> Aggregate:
        """This interval as a wire message."""
        lines = [
            LineCount(line=lid, direction=DIRECTIONS[k], counts=class_counts(self.lines[i, k]))
            for i, lid in enumerate(self.layout.lines)
            for k in range(2)
        ]
        movements = [
            MovementCount(movement=mid, counts=class_counts(self.movements[i]))
            for i, mid in enumerate(self.layout.movements)
        ]
        occ = self.occupancy()
        obs = self.observed_s
        approaches = []
        for i, a in enumerate(self.layout.approaches):
            q_m = float(self.queue_m_max[i]) if not np.isnan(self.queue_m_max[i]) else 0.0
            approaches.append(
                ApproachMeasures(
                    approach=a.id,
                    arrivals=class_counts(self.arrivals[i]),
                    flow_pcu_h=float(self.flow_pcu[i] / obs * 3600.0) if obs > 0 else 0.0,
                    occupancy=float(occ[i]),
                    queue_veh_mean=float(self.queue_veh_s[i] / obs) if obs > 0 else 0.0,
                    queue_veh_max=float(self.queue_veh_max[i]),
                    queue_m_max=q_m if a.queue_m else None,
                    speed_mps_mean=float(self.speed_sum[i] / self.speed_n[i]) if a.speed and self.speed_n[i] else None,
                )
            )
        return Aggregate(start=start, duration_s=duration_s, lines=lines, movements=movements, approaches=approaches)


class IntervalBins:
    """Open live intervals keyed by their start; closed ones come out as aggregates.

    Args:
        interval_s: interval length; intervals start at multiples of it in Unix time.
        layout: what each interval reports.
    """

    def __init__(self, interval_s: float, layout: Layout) -> None:
        if not interval_s > 0.0:
            raise ValueError(f"interval must be positive, got {interval_s}")
        self.interval_s = float(interval_s)
        self.layout = layout
        self._open: dict[float, Tally] = {}

    def start_of(self, wall: float) -> float:
        """Start of the interval holding ``wall``."""
        return math.floor(wall / self.interval_s) * self.interval_s

    def at(self, wall: float) -> Tally:
        """The tally of the interval holding ``wall`` (opened if needed)."""
        start = self.start_of(wall)
        tally = self._open.get(start)
        if tally is None:
            tally = self._open[start] = Tally(self.layout)
        tally.last_wall = max(tally.last_wall, wall)
        return tally

    def spend(
        self, prev_wall: float, wall: float, dt: float, occupied: F64 | None = None, queue_veh: F64 | None = None
    ) -> None:
        """Add ``dt`` observed seconds between two frames, split at interval boundaries."""
        span = wall - prev_wall
        start = self.start_of(wall)
        if span <= 0.0 or prev_wall >= start:
            self.at(wall).spend(dt, occupied, queue_veh)
            return
        # The frames straddle boundaries: give each interval its share of the time.
        t = prev_wall
        while t < wall:
            end = min(self.start_of(t) + self.interval_s, wall)
            self.at(t if end < wall else wall).spend(dt * (end - t) / span, occupied, queue_veh)
            t = end

    def close(self, wall: float, final: bool = False) -> list[Aggregate]:
        """Aggregates of every interval ended by ``wall`` (all open ones if ``final``), oldest first."""
        out: list[Aggregate] = []
        for start in sorted(self._open):
            end = start + self.interval_s
            if end <= wall:
                out.append(self._open.pop(start).to_aggregate(start, self.interval_s))
            elif final:
                tally = self._open.pop(start)
                covered = max(tally.last_wall, wall) - start
                out.append(tally.to_aggregate(start, min(self.interval_s, max(covered, 1e-3))))
        return out

    def __len__(self) -> int:
        return len(self._open)


def _weighted(values: Iterable[tuple[float, float]]) -> float:
    num = den = 0.0
    for v, w in values:
        num += v * w
        den += w
    return num / den if den > 0 else 0.0


def merge(aggregates: list[Aggregate], start: float, duration_s: float) -> Aggregate:
    """One aggregate covering several: counts add up, rates and shares are time-weighted means.

    Speeds are weighted by each interval's arrivals (the vehicles the samples come from), maxima
    are maxima. Lines, movements and approaches keep the order of their first appearance.
    """
    lines: dict[tuple[str, str], dict[str, int]] = {}
    movements: dict[str, dict[str, int]] = {}
    by_approach: dict[str, list[tuple[ApproachMeasures, float]]] = {}
    for agg in aggregates:
        for lc in agg.lines:
            _add_counts(lines.setdefault((lc.line, lc.direction), {}), lc.counts)
        for mc in agg.movements:
            _add_counts(movements.setdefault(mc.movement, {}), mc.counts)
        for am in agg.approaches:
            by_approach.setdefault(am.approach, []).append((am, agg.duration_s))
    approaches = []
    for aid, parts in by_approach.items():
        arrivals: dict[str, int] = {}
        for am, _ in parts:
            _add_counts(arrivals, am.arrivals)
        q_m = [am.queue_m_max for am, _ in parts if am.queue_m_max is not None]
        speeds = [(am.speed_mps_mean, float(sum(am.arrivals.values())) or 1e-9) for am, _ in parts if am.speed_mps_mean is not None]
        approaches.append(
            ApproachMeasures(
                approach=aid,
                arrivals=arrivals,
                flow_pcu_h=_weighted((am.flow_pcu_h, w) for am, w in parts),
                occupancy=min(1.0, _weighted((am.occupancy, w) for am, w in parts)),
                queue_veh_mean=_weighted((am.queue_veh_mean, w) for am, w in parts),
                queue_veh_max=max(am.queue_veh_max for am, _ in parts),
                queue_m_max=max(q_m) if q_m else None,
                speed_mps_mean=_weighted(speeds) if speeds else None,
            )
        )
    return Aggregate(
        start=start,
        duration_s=duration_s,
        lines=[LineCount(line=k[0], direction=k[1], counts=v) for k, v in lines.items()],
        movements=[MovementCount(movement=k, counts=v) for k, v in movements.items()],
        approaches=approaches,
    )


def _add_counts(into: dict[str, int], counts: ClassCounts) -> None:
    for label, n in counts.items():
        into[label] = into.get(label, 0) + n


class ReportBinner:
    """Rolls live aggregates into report bins aligned in local time (15 minutes by default).

    Feed closed live aggregates in time order; a report bin comes out once an aggregate of a
    later bin arrives (or on :meth:`flush`). ``report_interval_s`` must be a whole multiple of the
    live interval so that no live interval straddles two report bins.

    Args:
        report_interval_s: report bin length.
        live_interval_s: length of the live aggregates that will be fed.
        timezone: IANA zone in which bins are aligned (an hourly bin starts on the local hour).

    Example:
        >>> rb = ReportBinner(60.0, 15.0, "Asia/Jakarta")
        >>> [rb.add(Aggregate(start=s, duration_s=15.0)) for s in (0.0, 15.0, 30.0, 45.0)]
        [[], [], [], []]
        >>> [(a.start, a.duration_s) for a in rb.add(Aggregate(start=60.0, duration_s=15.0))]
        [(0.0, 60.0)]
    """

    def __init__(self, report_interval_s: float, live_interval_s: float, timezone: str = "UTC") -> None:
        ratio = report_interval_s / live_interval_s
        if live_interval_s <= 0 or ratio < 1.0 or abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(
                f"report interval {report_interval_s:g} s must be a whole multiple of the live interval {live_interval_s:g} s"
            )
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {timezone!r}") from err
        self.report_interval_s = float(report_interval_s)
        self._start: float | None = None
        self._parts: list[Aggregate] = []

    def bin_start(self, wall: float) -> float:
        """Start (Unix seconds) of the report bin holding ``wall``, aligned in local time."""
        offset = datetime.fromtimestamp(wall, UTC).astimezone(self._zone).utcoffset()
        off_s = offset.total_seconds() if offset is not None else 0.0
        return math.floor((wall + off_s) / self.report_interval_s) * self.report_interval_s - off_s

    def add(self, aggregate: Aggregate) -> list[Aggregate]:
        """Take one live aggregate; return the report bins it closed (zero or one)."""
        start = self.bin_start(aggregate.start)
        out: list[Aggregate] = []
        if self._start is not None and start != self._start:
            out = self.flush()
        self._start = start
        self._parts.append(aggregate)
        return out

    def flush(self) -> list[Aggregate]:
        """The open report bin, if any (end of a replay, or shutdown)."""
        if self._start is None or not self._parts:
            return []
        merged = merge(self._parts, self._start, self.report_interval_s)
        self._start = None
        self._parts = []
        return [merged]
