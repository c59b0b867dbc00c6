"""A site's configuration: one YAML file per intersection, parsed into this pydantic tree.

The tree is built once in ``main()`` (see :mod:`edge.config_loader`) and passed down; no stage
reads settings from globals. Every field carries a description so that ``simpang config schema``
is the reference documentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controller.config import ControllerConfig, SignalConfig
from models.classes import VehicleClass

Point = tuple[float, float]

_ID = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(_Strict):
    """One camera watching the intersection."""

    id: str = Field(pattern=_ID, description="Camera id, unique in the site.")
    source: str = Field(
        description="Where frames come from: a file path, rtsp:// or http(s):// URL, 'usb:N' for a local camera, or 'twin:...' for the digital twin."
    )
    fps: float | None = Field(None, gt=0.0, le=120.0, description="Nominal frame rate; None reads it from the stream.")
    frame_size: tuple[int, int] | None = Field(
        None, description="Expected frame size (width, height) in pixels; zones and lines are checked against it."
    )
    detect_stride: int = Field(1, ge=1, le=8, description="Run the detector on every k-th frame and track in between.")
    reconnect_min_s: float = Field(0.5, gt=0.0, description="First back-off delay when a live stream drops.")
    reconnect_max_s: float = Field(30.0, gt=0.0, description="Longest back-off delay between reconnect attempts.")


class ModelConfig(_Strict):
    """The ONNX detector and how to run it."""

    path: str = Field(description="Model file path (relative paths are resolved from the site file's folder) or a known model name.")
    family: Literal["auto", "yolov8", "yolox", "yolov5", "end2end"] = Field(
        "auto", description="Output decoding family; 'auto' reads it from the model's metadata and shapes."
    )
    input_size: tuple[int, int] | None = Field(None, description="Network input (width, height); None reads it from the model.")
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="onnxruntime execution providers in order of preference (CUDA, TensorRT, OpenVINO, CPU).",
    )
    intra_op_threads: int = Field(0, ge=0, le=64, description="onnxruntime intra-op threads; 0 lets onnxruntime choose.")
    confidence: float = Field(0.3, ge=0.0, le=1.0, description="Minimum detection confidence.")
    iou: float = Field(0.5, gt=0.0, le=1.0, description="IoU threshold of class-aware non-maximum suppression.")
    class_map: dict[int, str] | None = Field(
        None, description="Detector class id -> Simpang class label; None uses the model's names or COCO ids."
    )

    @field_validator("class_map")
    @classmethod
    def _known_labels(cls, v: dict[int, str] | None) -> dict[int, str] | None:
        if v is not None:
            for label in v.values():
                VehicleClass.from_label(label)
        return v


class LineConfig(_Strict):
    """A virtual counting line in image space.

    Walking from ``points[0]`` to ``points[1]``, a vehicle crossing from the left-hand side to the
    right-hand side moves in the ``in`` direction; the other way is ``out``.
    """

    id: str = Field(pattern=_ID, description="Line id, unique in the site.")
    camera: str = Field(description="Id of the camera this line is drawn on.")
    points: tuple[Point, Point] = Field(description="Two image points (x, y) in full-frame pixels.")
    in_label: str = Field("in", description="Name of the left-to-right crossing direction, for example 'southbound'.")
    out_label: str = Field("out", description="Name of the right-to-left crossing direction, for example 'northbound'.")


class ApproachConfig(_Strict):
    """One approach (intersection leg entering the junction) as the camera sees it."""

    id: str = Field(pattern=_ID, description="Approach id, for example 'north'.")
    name: str = Field("", description="Human-readable name, for example 'Jl. Sudirman from the north'.")
    camera: str = Field(description="Id of the camera that sees this approach.")
    stop_line: str | None = Field(None, description="Id of the counting line at the stop bar; crossing it in its 'in' direction is an entry.")
    zone: list[Point] | None = Field(None, min_length=3, description="Polygon of the stop-line detection zone (a virtual loop) in image pixels.")
    queue_zone: list[Point] | None = Field(None, min_length=3, description="Polygon covering the queue storage upstream of the stop line.")
    lanes: int = Field(1, ge=1, le=8, description="Number of entry lanes.")
    width_m: float = Field(3.5, gt=0.0, le=40.0, description="Effective approach width in metres (for saturation flow, PKJI 2023).")
    opposed: bool = Field(False, description="True when right-turning traffic is opposed (motorcycle PCU 0.40 instead of 0.15).")


class ExitConfig(_Strict):
    """An exit leg, identified by the line a vehicle crosses when leaving the junction."""

    id: str = Field(pattern=_ID, description="Exit id, for example 'east_out'.")
    line: str = Field(description="Id of the counting line crossed when leaving through this exit.")


class MovementConfig(_Strict):
    """A turning movement: from an approach to an exit."""

    id: str = Field(pattern=_ID, description="Movement id, for example 'north_left'.")
    approach: str = Field(description="Id of the entry approach.")
    exit: str = Field(description="Id of the exit.")
    turn: Literal["left", "through", "right", "u_turn"] = Field("through", description="Kind of turn (Indonesia drives on the left).")


class CalibrationConfig(_Strict):
    """Image-to-ground homography for one camera, from four or more point pairs."""

    camera: str = Field(description="Id of the calibrated camera.")
    image_points: list[Point] = Field(min_length=4, description="Points in the image (pixels).")
    ground_points: list[Point] = Field(min_length=4, description="The same points on the ground plane, in metres.")

    @model_validator(mode="after")
    def _pairs(self) -> CalibrationConfig:
        if len(self.image_points) != len(self.ground_points):
            raise ValueError(
                f"calibration has {len(self.image_points)} image points but {len(self.ground_points)} ground points"
            )
        return self


class PcuConfig(_Strict):
    """Passenger-car-unit equivalents (PKJI 2023 defaults)."""

    light: float = Field(1.0, ge=0.0, description="Light vehicles (cars, vans, pick-ups).")
    heavy: float = Field(1.3, ge=0.0, description="Heavy vehicles (buses, trucks).")
    motorcycle_protected: float = Field(0.15, ge=0.0, description="Motorcycles on a protected approach.")
    motorcycle_opposed: float = Field(0.40, ge=0.0, description="Motorcycles on an opposed approach.")
    bicycle: float = Field(0.0, ge=0.0, description="Bicycles (PKJI treats them as side friction, not flow).")


class TrackerConfig(_Strict):
    """Multi-object tracker (ByteTrack-style) parameters."""

    high_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Detections above this score start and match tracks first.")
    low_threshold: float = Field(0.1, ge=0.0, le=1.0, description="Detections above this score may still extend existing tracks.")
    match_iou: float = Field(0.2, ge=0.0, le=1.0, description="Minimum IoU to match a detection with a track.")
    lost_after_s: float = Field(1.5, gt=0.0, description="A track unseen this long is ended and its state pruned.")
    min_hits: int = Field(2, ge=1, description="Detections needed before a track is confirmed and counted.")


class MeasuresConfig(_Strict):
    """Traffic measures derived from tracks."""

    live_interval_s: float = Field(15.0, gt=0.0, description="Length of the live aggregate interval.")
    report_interval_s: float = Field(900.0, gt=0.0, description="Length of the report bins (15 minutes by default).")
    line_hysteresis_px: float = Field(6.0, ge=0.0, description="A crossing counts only after moving this far past the line.")
    queue_speed_mps: float = Field(1.5, gt=0.0, description="A vehicle in the queue zone slower than this is queued.")
    queue_speed_px_s: float = Field(15.0, gt=0.0, description="Without calibration: pixel speed below which a vehicle is queued.")
    zone_min_confidence: float = Field(
        0.0, ge=0.0, le=1.0,
        description="A track counts in zones and queues (what the signal controller sees) only once one of its detections "
        "scored at least this; counting lines take every confirmed track. Lets a low detector floor help counting "
        "without phantom queues.",
    )
    pcu: PcuConfig = Field(default_factory=PcuConfig, description="Passenger-car-unit equivalents.")


class CentralLinkConfig(_Strict):
    """How the edge box reaches the central service."""

    endpoint: str = Field("tcp://127.0.0.1:5560", description="Central's ZeroMQ ROUTER endpoint.")
    server_public_key: str | None = Field(None, description="Central's CurveZMQ public key (Z85); None sends in clear text (lab only).")
    client_key_file: str | None = Field(None, description="This box's CurveZMQ secret key file; required with server_public_key.")
    spool_path: str = Field("spool.sqlite", description="SQLite file where messages wait until central acknowledges them.")
    spool_max_mb: float = Field(256.0, gt=0.0, description="Spool size limit; the oldest messages are evicted (and an alarm raised) beyond it.")
    heartbeat_s: float = Field(5.0, gt=0.0, description="Health message period.")


class SiteConfig(_Strict):
    """Everything one edge box needs to know about its intersection."""

    version: Literal[1] = Field(1, description="Schema version of this file.")
    site_id: str = Field(pattern=_ID, description="Site (intersection) id, unique across the city.")
    name: str = Field("", description="Human-readable site name.")
    timezone: str = Field("Asia/Jakarta", description="IANA time zone used for report bins.")
    cameras: list[CameraConfig] = Field(min_length=1, description="Cameras at this intersection.")
    model: ModelConfig = Field(description="Detector model.")
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines.")
    approaches: list[ApproachConfig] = Field(default_factory=list, description="Approaches entering the junction.")
    exits: list[ExitConfig] = Field(default_factory=list, description="Exit legs.")
    movements: list[MovementConfig] = Field(default_factory=list, description="Turning movements (approach -> exit).")
    calibration: list[CalibrationConfig] = Field(default_factory=list, description="Image-to-ground homographies, one per calibrated camera.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracker parameters.")
    measures: MeasuresConfig = Field(default_factory=MeasuresConfig, description="Measure parameters.")
    signal: SignalConfig | None = Field(None, description="Signal phases, conflicts and stages; None for a count-only site.")
    controller: ControllerConfig | None = Field(None, description="Control algorithm; requires 'signal'.")
    central: CentralLinkConfig = Field(default_factory=CentralLinkConfig, description="Link to the central service.")

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        problems = reference_problems(self)
        if problems:
            raise SiteReferenceError(problems)
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id; ``KeyError`` if there is none."""
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)


Loc = tuple[str | int, ...]


class SiteReferenceError(ValueError):
    """Cross-reference problems in a site, each with the YAML path it belongs to."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(msg for _, msg in problems))
        self.problems = problems


def reference_problems(site: SiteConfig) -> list[tuple[Loc, str]]:
    """Every dangling reference, duplicate id or out-of-frame point in ``site``."""
    out: list[tuple[Loc, str]] = []
    sections: list[tuple[str, list[str]]] = [
        ("cameras", [c.id for c in site.cameras]),
        ("lines", [x.id for x in site.lines]),
        ("approaches", [a.id for a in site.approaches]),
        ("exits", [e.id for e in site.exits]),
        ("movements", [m.id for m in site.movements]),
    ]
    for section, ids in sections:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                out.append(((section, i, "id"), f"id {ident!r} is used twice"))
            seen.add(ident)
    cams = {c.id: c for c in site.cameras}
    lines = {x.id for x in site.lines}
    approaches = {a.id for a in site.approaches}
    exits = {e.id for e in site.exits}
    movements = {m.id for m in site.movements}

    def need(loc: Loc, kind: str, ref: str, known: Iterable[str]) -> bool:
        known = set(known)
        if ref in known:
            return True
        options = ", ".join(sorted(known)) or "none defined"
        out.append((loc, f"unknown {kind} {ref!r} (known: {options})"))
        return False

    def inside(loc: Loc, points: list[Point], cam: CameraConfig) -> None:
        if cam.frame_size is None:
            return
        w, h = cam.frame_size
        for j, (x, y) in enumerate(points):
            if not (0 <= x <= w and 0 <= y <= h):
                out.append(((*loc, j), f"point ({x:g}, {y:g}) lies outside camera {cam.id!r} frame {w}x{h}"))

    for i, line in enumerate(site.lines):
        if need(("lines", i, "camera"), "camera", line.camera, cams):
            inside(("lines", i, "points"), list(line.points), cams[line.camera])
    for i, a in enumerate(site.approaches):
        if need(("approaches", i, "camera"), "camera", a.camera, cams):
            for key, poly in (("zone", a.zone), ("queue_zone", a.queue_zone)):
                if poly is not None:
                    inside(("approaches", i, key), poly, cams[a.camera])
        if a.stop_line is not None:
            need(("approaches", i, "stop_line"), "line", a.stop_line, lines)
    for i, e in enumerate(site.exits):
        need(("exits", i, "line"), "line", e.line, lines)
    for i, m in enumerate(site.movements):
        need(("movements", i, "approach"), "approach", m.approach, approaches)
        need(("movements", i, "exit"), "exit", m.exit, exits)
    for i, cal in enumerate(site.calibration):
        need(("calibration", i, "camera"), "camera", cal.camera, cams)
    if site.signal is not None:
        for i, p in enumerate(site.signal.phases):
            for j, mid in enumerate(p.movements):
                need(("signal", "phases", i, "movements", j), "movement", mid, movements)
            for j, aid in enumerate(p.approaches):
                need(("signal", "phases", i, "approaches", j), "approach", aid, approaches)
    if site.controller is not None and site.signal is None:
        out.append((("controller",), "'controller' needs a 'signal' section"))
    return out


def slug(text: str) -> str:
    """A safe id made from free text (used for default names)."""
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-").lower() or "site"
