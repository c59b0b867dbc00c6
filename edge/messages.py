"""Wire messages between edge boxes and central: typed, versioned, never pickled.

Every message travels as an :class:`Envelope` (JSON on the wire, see :func:`encode` and
:func:`decode`). ``(site, seq)`` identifies a message: the edge numbers its messages per site,
strictly increasing, and central stores each ``(site, seq)`` exactly once, so a resend after a
reconnect never duplicates data.

Kinds, edge -> central (acknowledged, spooled until acked):

* ``aggregate``  - traffic measures of one interval (counts by class per line, direction,
  approach and movement; PCU flow; occupancy; queues; speeds).
* ``events``     - Indiana hi-res events (detector on/off, phase changes) of a short window.
* ``health``     - heartbeat: camera, detector, controller and spool state.
* ``config_ack`` - the edge's answer to a config push: applied version, or refusal with reasons.

Kinds, central -> edge:

* ``config_push`` - a validated timing plan for the edge to validate again and apply at a safe boundary.

Example:
    >>> env = Envelope(site="s1", seq=1, sent_at=0.0, body=Health(uptime_s=5.0))
    >>> decode(encode(env)).body.kind
    'health'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.config import SignalConfig

#: The wire format version this code writes and accepts.
WIRE_VERSION = 1

#: Frames larger than this are refused before parsing (bytes).
MAX_MESSAGE_BYTES = 1 << 20

#: What a site id on the wire looks like.
SITE_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"

ClassCounts = dict[str, int]
"""Counts keyed by :class:`models.classes.VehicleClass` label (``"motorcycle": 12``)."""


class _Msg(BaseModel):
    # No NaN or infinity anywhere: a non-finite measure is a bug upstream, and central can neither
    # index it (SQLite stores NaN as NULL) nor serve it as JSON.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LineCount(_Msg):
    """Crossings of one counting line in one direction during the interval."""

    line: str = Field(description="Counting line id.")
    direction: Literal["in", "out"] = Field(description="Crossing direction (see LineConfig).")
    counts: ClassCounts = Field(default_factory=dict, description="Vehicles by class.")


class MovementCount(_Msg):
    """Vehicles that made one turning movement during the interval."""

    movement: str = Field(description="Movement id.")
    counts: ClassCounts = Field(default_factory=dict, description="Vehicles by class.")


class ApproachMeasures(_Msg):
    """Measures of one approach during the interval."""

    approach: str = Field(description="Approach id.")
    arrivals: ClassCounts = Field(default_factory=dict, description="Vehicles that entered the approach, by class.")
    flow_pcu_h: float = Field(0.0, ge=0.0, description="Flow over the stop line in passenger-car units per hour (PKJI 2023).")
    occupancy: float = Field(0.0, ge=0.0, le=1.0, description="Share of the interval the stop-line zone was occupied.")
    queue_veh_mean: float = Field(0.0, ge=0.0, description="Mean queue length in vehicles.")
    queue_veh_max: float = Field(0.0, ge=0.0, description="Longest queue in vehicles.")
    queue_m_max: float | None = Field(None, ge=0.0, description="Longest queue in metres (needs calibration).")
    speed_mps_mean: float | None = Field(None, ge=0.0, description="Mean speed of moving vehicles in m/s (needs calibration).")


class Aggregate(_Msg):
    """Traffic measures of one site over one fixed interval."""

    kind: Literal["aggregate"] = "aggregate"
    start: float = Field(description="Interval start, Unix seconds (UTC).")
    duration_s: float = Field(gt=0.0, description="Interval length in seconds.")
    lines: list[LineCount] = Field(default_factory=list, description="Line crossings.")
    movements: list[MovementCount] = Field(default_factory=list, description="Turning-movement counts.")
    approaches: list[ApproachMeasures] = Field(default_factory=list, description="Per-approach measures.")


class HiResEvent(_Msg):
    """One event in the Indiana traffic signal hi-resolution data convention."""

    ts: float = Field(description="Event time, Unix seconds (UTC), millisecond resolution.")
    code: int = Field(ge=0, le=255, description="Event code: 1 green begin, 4 gap-out, 5 max-out, 7 green end, 8 yellow begin, 9 yellow end, 10 red clearance begin, 11 red clearance end, 81 detector off, 82 detector on.")
    param: int = Field(ge=0, le=255, description="Event parameter: phase number or detector channel.")


class Events(_Msg):
    """A batch of hi-res events."""

    kind: Literal["events"] = "events"
    events: list[HiResEvent] = Field(default_factory=list, description="Events in time order.")


class CameraHealth(_Msg):
    """State of one camera."""

    camera: str = Field(description="Camera id.")
    ok: bool = Field(description="Frames are arriving.")
    fps: float = Field(0.0, ge=0.0, description="Frames per second delivered to the pipeline.")
    dropped: int = Field(0, ge=0, description="Stale frames dropped since start.")
    reconnects: int = Field(0, ge=0, description="Reconnects since start.")


class Health(_Msg):
    """Heartbeat of an edge box."""

    kind: Literal["health"] = "health"
    uptime_s: float = Field(ge=0.0, description="Seconds since the edge runtime started.")
    cameras: list[CameraHealth] = Field(default_factory=list, description="Camera states.")
    detector_fps: float = Field(0.0, ge=0.0, description="Detector throughput.")
    control_mode: Literal["adaptive", "fallback", "none"] = Field("none", description="Controller mode.")
    phase: list[int] = Field(default_factory=list, description="Phases green now.")
    queues: dict[str, float] = Field(default_factory=dict, description="Live queue (vehicles) per approach.")
    plan_version: int = Field(0, ge=0, description="Version of the timing plan in force.")
    spool_depth: int = Field(0, ge=0, description="Messages waiting for acknowledgement.")
    spool_evicted: int = Field(0, ge=0, description="Messages evicted from a full spool since start.")
    stage_restarts: int = Field(0, ge=0, description="Pipeline stages restarted by the watchdog since start.")


class ConfigAck(_Msg):
    """The edge's answer to a config push."""

    kind: Literal["config_ack"] = "config_ack"
    version: int = Field(ge=0, description="Plan version this answers.")
    applied: bool = Field(description="True when the plan is in force.")
    reasons: list[str] = Field(default_factory=list, description="Why the plan was refused, if it was.")


class ConfigPush(_Msg):
    """A timing plan pushed from central to an edge."""

    kind: Literal["config_push"] = "config_push"
    version: int = Field(ge=1, description="Plan version, increasing per site.")
    signal: SignalConfig = Field(description="The signal phases, timings, conflicts and stages to apply.")
    author: str = Field("", description="Who approved the plan (for the audit log).")


Body = Annotated[Aggregate | Events | Health | ConfigAck | ConfigPush, Field(discriminator="kind")]


class Envelope(_Msg):
    """What travels on the wire: identity, sequence and one body."""

    v: Literal[1] = Field(1, description="Wire format version (WIRE_VERSION).")
    site: str = Field(
        min_length=1, max_length=64, pattern=SITE_ID_PATTERN,
        description="Site id of the edge box (the site file's site_id).",
    )
    seq: int = Field(ge=0, description="Per-site sequence number, strictly increasing.")
    sent_at: float = Field(description="When the edge first created the message, Unix seconds.")
    body: Body = Field(description="The message itself.")


class WireError(ValueError):
    """A frame that is not a valid Simpang message (oversized, truncated, wrong version, garbage).

    Attributes:
        reason: a short label for metrics: ``oversized``, ``malformed`` (not JSON, truncated),
            ``wrong_version`` or ``invalid`` (JSON that is not a valid envelope).
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


def encode(env: Envelope) -> bytes:
    """Serialise an envelope as compact JSON bytes."""
    return env.model_dump_json(exclude_defaults=False).encode()


def decode(frame: bytes) -> Envelope:
    """Parse and validate one frame; raise :class:`WireError` with a one-line reason."""
    if len(frame) > MAX_MESSAGE_BYTES:
        raise WireError(f"frame of {len(frame)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit", "oversized")
    try:
        return Envelope.model_validate_json(frame)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"]) or "frame"
        if first["type"] == "json_invalid":
            reason = "malformed"
        elif first["loc"] == ("v",):
            reason = "wrong_version"
        else:
            reason = "invalid"
        raise WireError(f"invalid message at {where}: {first['msg']}", reason) from None
