"""``/api/sites/{site}/measures``, ``/events`` and ``/atspm``: traffic measures over a time range."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from central.api.common import CSV_RESPONSE, KnownSite, Range, SettingsDep, TimeRange, csv_response
from central.atspm import phase_measures
from central.auth import StoreDep, Viewer
from central.measures import ApproachBin, Bin, bin_aggregates, bins_to_csv
from central.settings import Settings
from central.store.base import MessageKind, Store
from edge.messages import Aggregate

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/sites/{site}", tags=["measures"])

#: Events batches are filed under their first event; look back this far for batches that
#: started before the range but hold events inside it.
EVENTS_LOOKBACK_S = 300.0

Format = Annotated[Literal["json", "csv"], Query(description="Response format.")]


class ApproachBinPublic(BaseModel):
    """One approach's measures over one bin."""

    arrivals: dict[str, int] = Field(description="Vehicles that entered the approach, by class.")
    flow_pcu_h: float = Field(description="Stop-line flow, PCU per hour (PKJI 2023).")
    occupancy: float = Field(description="Share of time the stop-line zone was occupied.")
    queue_veh_mean: float = Field(description="Mean queue, vehicles.")
    queue_veh_max: float = Field(description="Longest queue, vehicles.")
    queue_m_max: float | None = Field(description="Longest queue, metres (needs calibration).")
    speed_mps_mean: float | None = Field(description="Mean speed of moving vehicles, m/s (needs calibration).")

    @classmethod
    def of(cls, ab: ApproachBin) -> ApproachBinPublic:
        """From the binning result."""
        return cls(
            arrivals=ab.arrivals, flow_pcu_h=ab.flow_pcu_h, occupancy=ab.occupancy, queue_veh_mean=ab.queue_veh_mean,
            queue_veh_max=ab.queue_veh_max, queue_m_max=ab.queue_m_max, speed_mps_mean=ab.speed_mps_mean,
        )


class BinPublic(BaseModel):
    """Measures of one time bin."""

    start: float = Field(description="Bin start, Unix seconds.")
    end: float = Field(description="Bin end (exclusive), Unix seconds.")
    intervals: int = Field(description="Aggregates that fell in the bin (0: no data).")
    covered_s: float = Field(description="Seconds of the bin the aggregates covered.")
    lines: dict[str, dict[str, int]] = Field(description="Counts by class per 'line:direction'.")
    movements: dict[str, dict[str, int]] = Field(description="Turning-movement counts by class.")
    approaches: dict[str, ApproachBinPublic] = Field(description="Per-approach measures.")

    @classmethod
    def of(cls, b: Bin) -> BinPublic:
        """From the binning result."""
        return cls(
            start=b.start, end=b.end, intervals=b.intervals, covered_s=b.covered_s, lines=b.lines,
            movements=b.movements, approaches={k: ApproachBinPublic.of(v) for k, v in b.approaches.items()},
        )


class MeasuresPublic(BaseModel):
    """Binned measures of one site over a time range."""

    site: str
    start: float
    end: float
    bin_s: int
    bins: list[BinPublic]


class HiResEventPublic(BaseModel):
    """One hi-res event."""

    ts: float = Field(description="Unix seconds, millisecond resolution.")
    code: int = Field(description="Indiana event code.")
    param: int = Field(description="Event parameter (phase or detector channel).")


class PhaseMeasuresPublic(BaseModel):
    """ATSPM measures of one phase over the range."""

    phase: int
    greens: int = Field(description="Greens that began in the range.")
    gap_outs: int = Field(description="Greens ended by gap-out (event 4).")
    max_outs: int = Field(description="Greens ended by max-out (event 5).")
    force_offs: int = Field(description="Greens ended by force-off (event 6).")
    split_failures: int = Field(description="Greens with stop-bar occupancy > 79 % in green and in the first 5 s of red.")
    arrivals: int = Field(description="Detector actuations on the phase's detectors.")
    arrivals_on_green: int = Field(description="Actuations while the phase was green.")
    percent_on_green: float | None = Field(description="Arrivals on green, percent.")
    platoon_ratio: float | None = Field(description="Percent on green over percent of time green.")
    detectors: list[int] = Field(description="Detector channels mapped to the phase.")


def _read(store: Store, settings: Settings, site: str, kind: MessageKind, rng: TimeRange) -> list[str]:
    rows = store.messages(site, kind, rng.start, rng.end, limit=settings.max_rows + 1)
    if len(rows) > settings.max_rows:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the range holds more than {settings.max_rows} {kind} messages; ask for a shorter range",
        )
    return [r.body_json for r in rows]


@router.get("/measures", summary="Binned measures", responses=CSV_RESPONSE, response_model=MeasuresPublic)
def measures(  # noqa: PLR0917 - FastAPI dependencies are parameters
    site: KnownSite,
    rng: Range,
    store: StoreDep,
    settings: SettingsDep,
    _: Viewer,
    bin_s: Annotated[int, Query(ge=60, le=86400, description="Bin length in seconds (900 = 15 min).")] = 900,
    format: Format = "json",
) -> MeasuresPublic | Response:
    """Counts by class and movement, PCU flow, queue, occupancy and speed per bin, as JSON or CSV."""
    if (rng.end - rng.start) / bin_s > settings.max_bins:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"more than {settings.max_bins} bins; use a longer bin_s or shorter range"
        )
    aggs = [
        Aggregate.model_validate(json.loads(raw)["body"])
        for raw in _read(store, settings, site.site, "aggregate", rng)
    ]
    bins = bin_aggregates(aggs, rng.start, rng.end, bin_s)
    if format == "csv":
        return csv_response(bins_to_csv(bins), f"{site.site}_measures_{rng.start:.0f}_{bin_s}.csv")
    return MeasuresPublic(site=site.site, start=rng.start, end=rng.end, bin_s=bin_s, bins=[BinPublic.of(b) for b in bins])


def _events(store: Store, settings: Settings, site: str, rng: TimeRange) -> list[tuple[float, int, int]]:
    out: list[tuple[float, int, int]] = []
    for raw in _read(store, settings, site, "events", TimeRange(rng.start - EVENTS_LOOKBACK_S, rng.end)):
        for e in json.loads(raw)["body"]["events"]:
            if rng.start <= e["ts"] < rng.end:
                out.append((float(e["ts"]), int(e["code"]), int(e["param"])))
    out.sort()
    return out


@router.get("/events", summary="Hi-res events export", responses=CSV_RESPONSE, response_model=list[HiResEventPublic])
def events(
    site: KnownSite, rng: Range, store: StoreDep, settings: SettingsDep, _: Viewer, format: Format = "csv"
) -> list[HiResEventPublic] | Response:
    """Indiana hi-res events in time order; CSV in the ATSPM controller event log layout.

    CSV columns: ``SignalID,Timestamp,EventCode,EventParam`` with timestamps in UTC to the millisecond.
    """
    evs = _events(store, settings, site.site, rng)
    if format == "json":
        return [HiResEventPublic(ts=ts, code=code, param=param) for ts, code, param in evs]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["SignalID", "Timestamp", "EventCode", "EventParam"])
    for ts, code, param in evs:
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        w.writerow([site.site, stamp, code, param])
    return csv_response(out.getvalue(), f"{site.site}_events_{rng.start:.0f}.csv")


def _channels(spec: str | None) -> dict[int, int] | None:
    if not spec:
        return None
    mapping: dict[int, int] = {}
    for part in spec.split(","):
        det, sep, phase = part.partition(":")
        try:
            if not sep:
                raise ValueError(part)
            mapping[int(det)] = int(phase)
        except ValueError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"channels: {part!r} is not DETECTOR:PHASE (for example 5:2)"
            ) from None
    return mapping


@router.get("/atspm", summary="ATSPM measures per phase")
def atspm(
    site: KnownSite,
    rng: Range,
    store: StoreDep,
    settings: SettingsDep,
    _: Viewer,
    channels: Annotated[
        str | None,
        Query(max_length=2000, description="Detector-to-phase map 'DET:PHASE,...'; default maps each channel to the phase of its number."),
    ] = None,
) -> list[PhaseMeasuresPublic]:
    """Phase terminations (gap-out, max-out, force-off), split failures and arrivals on green."""
    mapping = _channels(channels)
    result = phase_measures(_events(store, settings, site.site, rng), rng.start, rng.end, mapping)
    return [
        PhaseMeasuresPublic(
            phase=m.phase, greens=m.greens, gap_outs=m.gap_outs, max_outs=m.max_outs, force_offs=m.force_offs,
            split_failures=m.split_failures, arrivals=m.arrivals, arrivals_on_green=m.arrivals_on_green,
            percent_on_green=m.percent_on_green, platoon_ratio=m.platoon_ratio, detectors=m.detectors,
        )
        for m in result.values()
    ]
