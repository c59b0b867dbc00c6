"""Builders for the wire messages and plans the central tests store and serve."""

from __future__ import annotations

from controller.config import PhaseConfig, PhaseTimings, SignalConfig
from edge.messages import (
    Aggregate,
    ApproachMeasures,
    CameraHealth,
    ConfigAck,
    Envelope,
    Events,
    Health,
    HiResEvent,
    LineCount,
    MovementCount,
)

T0 = 1_767_225_600.0
"""2026-01-01 00:00:00 UTC: the start of every test day."""


def aggregate(site: str, seq: int, start: float, *, cars: int = 10, motorcycles: int = 30, queue: float = 3.0) -> Envelope:
    """One 60-second aggregate with a north approach, a line and a movement."""
    return Envelope(
        site=site,
        seq=seq,
        sent_at=start + 60.0,
        body=Aggregate(
            start=start,
            duration_s=60.0,
            lines=[LineCount(line="north_stop", direction="in", counts={"car": cars, "motorcycle": motorcycles})],
            movements=[MovementCount(movement="n_through", counts={"car": cars, "motorcycle": motorcycles})],
            approaches=[
                ApproachMeasures(
                    approach="north",
                    arrivals={"car": cars, "motorcycle": motorcycles},
                    flow_pcu_h=(cars * 1.0 + motorcycles * 0.25) * 60.0,
                    occupancy=0.25,
                    queue_veh_mean=queue,
                    queue_veh_max=queue * 2,
                    queue_m_max=queue * 12.0,
                    speed_mps_mean=8.0,
                ),
            ],
        ),
    )


def health(site: str, seq: int, sent_at: float, *, phase: list[int] | None = None, plan_version: int = 0) -> Envelope:
    """A heartbeat with one camera and live queues."""
    return Envelope(
        site=site,
        seq=seq,
        sent_at=sent_at,
        body=Health(
            uptime_s=120.0,
            cameras=[CameraHealth(camera="cam1", ok=True, fps=12.5)],
            detector_fps=12.0,
            control_mode="adaptive",
            phase=phase if phase is not None else [2],
            queues={"north": 4.0, "south": 1.0},
            plan_version=plan_version,
        ),
    )


def events(site: str, seq: int, items: list[tuple[float, int, int]]) -> Envelope:
    """A batch of hi-res events given as (ts, code, param)."""
    return Envelope(
        site=site,
        seq=seq,
        sent_at=items[-1][0] if items else T0,
        body=Events(events=[HiResEvent(ts=ts, code=code, param=param) for ts, code, param in items]),
    )


def ack(site: str, seq: int, version: int, applied: bool, reasons: list[str] | None = None) -> Envelope:
    """The edge's answer to a config push."""
    return Envelope(
        site=site, seq=seq, sent_at=T0, body=ConfigAck(version=version, applied=applied, reasons=reasons or [])
    )


def signal(min_green: float = 7.0, max_green: float = 45.0) -> SignalConfig:
    """A two-phase intersection: north-south (2) against east-west (4)."""
    timings = PhaseTimings(min_green=min_green, max_green=max_green)
    return SignalConfig(
        phases=[
            PhaseConfig(id=2, name="north-south", movements=["n_through"], approaches=["north"], timings=timings),
            PhaseConfig(id=4, name="east-west", movements=["e_through"], approaches=["east"], timings=timings),
        ],
        conflicts=[(2, 4)],
        stages=[[2], [4]],
    )
