"""ATSPM-style performance measures from Indiana hi-res events (pure, no I/O).

Follows the definitions of the Automated Traffic Signal Performance Measures (UDOT/FHWA ATSPM):

* **Phase terminations**: how each green ended: gap-out (event 4), max-out (5) or force-off (6).
* **Split failures**: a green is a split failure when the stop-bar detectors of its phase were
  occupied more than 79 % of the green (green occupancy ratio, GOR) *and* more than 79 % of the
  first 5 s of the following red (red occupancy ratio, ROR5): the queue did not clear.
* **Arrivals on green**: the share of detector actuations (event 82, vehicle arrivals) that came
  while the phase was green; the platoon ratio divides it by the phase's green share of the time.

Detector channels map onto phases through ``channels`` (channel -> phase). Simpang edges number
each approach's virtual stop-bar detector with the phase that serves it, so the default mapping
is the identity.

Example:
    >>> ev = [(0.0, 1, 2), (20.0, 4, 2), (20.0, 8, 2), (24.0, 10, 2), (60.0, 1, 2)]
    >>> phase_measures(ev, start=0.0, end=60.0)[2].gap_outs
    1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

GREEN_BEGIN, GAP_OUT, MAX_OUT, FORCE_OFF, YELLOW_BEGIN, YELLOW_END, RED_CLEAR_BEGIN = 1, 4, 5, 6, 8, 9, 10
DETECTOR_OFF, DETECTOR_ON = 81, 82

#: ATSPM's split-failure occupancy threshold and red window.
SPLIT_FAIL_OCCUPANCY = 0.79
RED_WINDOW_S = 5.0

Event = tuple[float, int, int]
"""(ts, code, param), as in :class:`edge.messages.HiResEvent`."""


@dataclass(slots=True)
class PhaseMeasures:
    """ATSPM measures of one phase over a time range."""

    phase: int
    greens: int = 0
    gap_outs: int = 0
    max_outs: int = 0
    force_offs: int = 0
    split_failures: int = 0
    arrivals: int = 0
    arrivals_on_green: int = 0
    green_s: float = 0.0
    observed_s: float = 0.0
    detectors: list[int] = field(default_factory=list)

    @property
    def percent_on_green(self) -> float | None:
        """Arrivals on green as a percentage, or ``None`` without arrivals."""
        return 100.0 * self.arrivals_on_green / self.arrivals if self.arrivals else None

    @property
    def platoon_ratio(self) -> float | None:
        """Share of arrivals on green over the green share of time (1 = random, > 1 = progression)."""
        if not self.arrivals or self.green_s <= 0 or self.observed_s <= 0:
            return None
        return (self.arrivals_on_green / self.arrivals) / (self.green_s / self.observed_s)


def _overlap(intervals: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(b, off) - max(a, on)) for on, off in intervals)


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for on, off in sorted(intervals):
        if out and on <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], off))
        else:
            out.append((on, off))
    return out


def phase_measures(
    events: Iterable[Event], start: float, end: float, channels: Mapping[int, int] | None = None
) -> dict[int, PhaseMeasures]:
    """Compute the measures for every phase that shows a green in ``events`` within ``[start, end)``.

    Args:
        events: Hi-res events in any order; those outside the range are ignored.
        start: Range start (Unix seconds).
        end: Range end (Unix seconds).
        channels: Detector channel -> phase; ``None`` maps each channel to the phase of its number.
    """
    evs = sorted(e for e in events if start <= e[0] < end)
    result: dict[int, PhaseMeasures] = {}
    # Green and yellow windows per phase, closed by the next state change (or the range end).
    greens: dict[int, list[tuple[float, float, float]]] = {}  # phase -> (green, yellow, red)
    open_green: dict[int, float] = {}
    open_yellow: dict[int, tuple[float, float]] = {}
    det_on: dict[int, float] = {}
    occupied: dict[int, list[tuple[float, float]]] = {}
    arrivals: list[tuple[float, int]] = []
    for ts, code, param in evs:
        if code == GREEN_BEGIN:
            open_green[param] = ts
            result.setdefault(param, PhaseMeasures(param)).greens += 1
        elif code in (GAP_OUT, MAX_OUT, FORCE_OFF):
            m = result.setdefault(param, PhaseMeasures(param))
            if code == GAP_OUT:
                m.gap_outs += 1
            elif code == MAX_OUT:
                m.max_outs += 1
            else:
                m.force_offs += 1
        elif code == YELLOW_BEGIN and param in open_green:
            open_yellow[param] = (open_green.pop(param), ts)
        elif code in (YELLOW_END, RED_CLEAR_BEGIN) and param in open_yellow:
            g, y = open_yellow.pop(param)
            greens.setdefault(param, []).append((g, y, ts))
        elif code == DETECTOR_ON:
            det_on.setdefault(param, ts)
            arrivals.append((ts, param))
        elif code == DETECTOR_OFF and param in det_on:
            occupied.setdefault(param, []).append((det_on.pop(param), ts))
    for ch, on in det_on.items():  # still occupied at the range end
        occupied.setdefault(ch, []).append((on, end))
    for phase, (g, y) in open_yellow.items():
        greens.setdefault(phase, []).append((g, y, end))
    for phase, g in open_green.items():
        greens.setdefault(phase, []).append((g, end, end))

    mapping = dict(channels) if channels is not None else {ch: ch for ch in {*occupied, *(c for _, c in arrivals)}}
    by_phase: dict[int, list[int]] = {}
    for ch, phase in mapping.items():
        by_phase.setdefault(phase, []).append(ch)
    observed = max(0.0, end - start)
    for phase, windows in greens.items():
        m = result.setdefault(phase, PhaseMeasures(phase))
        m.observed_s = observed
        m.detectors = sorted(by_phase.get(phase, []))
        occ = _union([iv for ch in m.detectors for iv in occupied.get(ch, [])])
        for g, y, red in windows:
            m.green_s += y - g
            if not occ or y <= g:
                continue
            gor = _overlap(occ, g, y) / (y - g)
            ror5 = _overlap(occ, red, red + RED_WINDOW_S) / RED_WINDOW_S
            if gor > SPLIT_FAIL_OCCUPANCY and ror5 > SPLIT_FAIL_OCCUPANCY:
                m.split_failures += 1
        chans = set(m.detectors)
        for ts, ch in arrivals:
            if ch in chans:
                m.arrivals += 1
                if any(g <= ts < y for g, y, _ in windows):
                    m.arrivals_on_green += 1
    return dict(sorted(result.items()))
