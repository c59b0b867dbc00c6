"""Binning interval aggregates into the measures engineers ask for (pure, no I/O).

Edge boxes send one :class:`edge.messages.Aggregate` per short interval (typically 60 s). An
engineer asks for a time range and a bin (15 minutes is the HCM analysis period). Each aggregate
falls in the bin that holds its interval start. Within a bin:

* counts (lines, movements, approach arrivals) are summed by class;
* PCU flow is the duration-weighted mean of the interval flows, i.e. total PCU over covered time
  (so a bin with a missing interval is not diluted);
* occupancy and mean queue are duration-weighted means; maximum queues are maxima;
* mean speed is the duration-weighted mean over the intervals that measured one.

Example:
    >>> from edge.messages import Aggregate
    >>> bins = bin_aggregates([Aggregate(start=0.0, duration_s=60.0)], start=0.0, end=900.0, bin_s=900)
    >>> (bins[0].start, bins[0].covered_s)
    (0.0, 60.0)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.messages import Aggregate
from models.classes import VehicleClass

#: Class columns in CSV output, in VehicleClass order.
CLASS_LABELS: tuple[str, ...] = tuple(c.label for c in VehicleClass)


@dataclass(slots=True)
class ApproachBin:
    """One approach's measures over one bin."""

    arrivals: dict[str, int] = field(default_factory=dict)
    flow_pcu_h: float = 0.0
    occupancy: float = 0.0
    queue_veh_mean: float = 0.0
    queue_veh_max: float = 0.0
    queue_m_max: float | None = None
    speed_mps_mean: float | None = None
    # Running sums for the weighted means (not part of the output).
    _w: float = 0.0
    _speed_w: float = 0.0


@dataclass(slots=True)
class Bin:
    """Measures of one time bin; ``covered_s`` says how much of it the aggregates covered."""

    start: float
    end: float
    intervals: int = 0
    covered_s: float = 0.0
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    movements: dict[str, dict[str, int]] = field(default_factory=dict)
    approaches: dict[str, ApproachBin] = field(default_factory=dict)


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def bin_aggregates(aggregates: Iterable[Aggregate], start: float, end: float, bin_s: int) -> list[Bin]:
    """Fold aggregates into consecutive bins ``[start + k*bin_s, start + (k+1)*bin_s)`` up to ``end``.

    Aggregates starting outside ``[start, end)`` are ignored. Every bin of the range is returned,
    empty ones included (``intervals == 0``), so charts show gaps as gaps.
    """
    if bin_s <= 0:
        raise ValueError(f"bin_s must be positive, got {bin_s}")
    n = max(0, int((end - start + bin_s - 1) // bin_s))
    bins = [Bin(start=start + k * bin_s, end=min(end, start + (k + 1) * bin_s)) for k in range(n)]
    for agg in aggregates:
        if not start <= agg.start < end:
            continue
        b = bins[int((agg.start - start) // bin_s)]
        w = agg.duration_s
        b.intervals += 1
        b.covered_s += w
        for lc in agg.lines:
            _add(b.lines.setdefault(f"{lc.line}:{lc.direction}", {}), lc.counts)
        for mc in agg.movements:
            _add(b.movements.setdefault(mc.movement, {}), mc.counts)
        for am in agg.approaches:
            ab = b.approaches.setdefault(am.approach, ApproachBin())
            _add(ab.arrivals, am.arrivals)
            # Sums for now; divided by the weights in _finish.
            ab.flow_pcu_h += am.flow_pcu_h * w
            ab.occupancy += am.occupancy * w
            ab.queue_veh_mean += am.queue_veh_mean * w
            ab._w += w
            ab.queue_veh_max = max(ab.queue_veh_max, am.queue_veh_max)
            if am.queue_m_max is not None:
                ab.queue_m_max = max(ab.queue_m_max or 0.0, am.queue_m_max)
            if am.speed_mps_mean is not None:
                ab.speed_mps_mean = (ab.speed_mps_mean or 0.0) + am.speed_mps_mean * w
                ab._speed_w += w
    for b in bins:
        for ab in b.approaches.values():
            _finish(ab)
    return bins


def _finish(ab: ApproachBin) -> None:
    if ab._w > 0:
        ab.flow_pcu_h /= ab._w
        ab.occupancy /= ab._w
        ab.queue_veh_mean /= ab._w
    if ab.speed_mps_mean is not None and ab._speed_w > 0:
        ab.speed_mps_mean /= ab._speed_w


CSV_COLUMNS: tuple[str, ...] = (
    "bin_start_utc", "bin_start", "bin_s", "scope", "id", *CLASS_LABELS, "total",
    "flow_pcu_h", "occupancy", "queue_veh_mean", "queue_veh_max", "queue_m_max", "speed_mps_mean",
)


def bins_to_csv(bins: Iterable[Bin]) -> str:
    """Wide CSV: one row per bin and line, movement or approach, classes as columns.

    ``scope`` is ``line`` (id ``line:direction``), ``movement`` or ``approach``; the measure
    columns are filled for approaches only. Times are Unix seconds and ISO 8601 UTC.
    """
    from datetime import UTC, datetime  # noqa: PLC0415 - only the CSV path needs it

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for b in bins:
        iso = datetime.fromtimestamp(b.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        head = [iso, f"{b.start:.0f}", f"{b.end - b.start:.0f}"]
        for scope, table in (("line", b.lines), ("movement", b.movements)):
            for key in sorted(table):
                counts = table[key]
                w.writerow([*head, scope, key, *_class_cells(counts), *[""] * 6])
        for key in sorted(b.approaches):
            ab = b.approaches[key]
            w.writerow([
                *head, "approach", key, *_class_cells(ab.arrivals),
                f"{ab.flow_pcu_h:.1f}", f"{ab.occupancy:.3f}", f"{ab.queue_veh_mean:.2f}",
                f"{ab.queue_veh_max:.1f}", _opt(ab.queue_m_max), _opt(ab.speed_mps_mean),
            ])
    return out.getvalue()


def _class_cells(counts: dict[str, int]) -> list[int]:
    cells = [counts.get(label, 0) for label in CLASS_LABELS]
    return [*cells, sum(counts.values())]


def _opt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
