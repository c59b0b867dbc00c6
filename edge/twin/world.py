"""The simulated world behind the twin camera: a SUMO scenario run by libsumo.

The scenario (network, demand, signal) is the controller's :mod:`controller.scenarios.fourleg`,
so the camera films exactly the junction the controller is tested on. :class:`SumoWorld` starts
libsumo on its files, steps it, and reads back what the renderer and the ground truth need.

libsumo runs one simulation per process (it is a module, not an object): only one
:class:`SumoWorld` may be open at a time, which :class:`SumoWorld` enforces.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

from edge.errors import SourceError
from models.classes import VehicleClass

log = logging.getLogger(__name__)

#: The twin's vehicle types (the scenario's ``vType`` ids) as Simpang classes.
VTYPE_CLASS: dict[str, VehicleClass] = {
    "car": VehicleClass.CAR,
    "motorcycle": VehicleClass.MOTORCYCLE,
    "bus": VehicleClass.BUS,
    "truck": VehicleClass.TRUCK,
}


def planned_counts(route_file: Path) -> dict[str, dict[str, int]]:
    """Movement id -> class label -> vehicles, as a scenario's route file states them.

    Each ``<vehicle>`` names its movement as its ``route`` (the scenario's route ids are its
    movement ids) and its class as its ``type``.
    """
    out: dict[str, dict[str, int]] = {}
    for el in ElementTree.parse(route_file).getroot().iter("vehicle"):
        movement, vtype = el.get("route"), el.get("type")
        if movement is None or vtype is None:
            raise SourceError(f"{route_file.name}: vehicle {el.get('id')!r} lacks a route or type attribute")
        label = VTYPE_CLASS.get(vtype, VehicleClass.CAR).label
        per = out.setdefault(movement, {})
        per[label] = per.get(label, 0) + 1
    return out


@dataclass(frozen=True, slots=True)
class LaneGeometry:
    """One SUMO lane's centre line and width, for painting the road."""

    id: str
    edge: str
    index: int
    shape: tuple[tuple[float, float], ...]
    width: float
    internal: bool
    stop_bar: bool


@dataclass(frozen=True, slots=True)
class RoadGeometry:
    """Static road layout read from SUMO: lanes and junction polygons."""

    lanes: tuple[LaneGeometry, ...]
    junctions: tuple[tuple[tuple[float, float], ...], ...]
    centre: tuple[float, float]


@dataclass(frozen=True, slots=True)
class VehicleState:
    """One vehicle as SUMO reports it.

    Attributes:
        id: SUMO vehicle id.
        vtype: Twin vehicle type id (``car``, ``motorcycle``, ``bus``, ``truck``).
        x: Front-bumper centre, east (m).
        y: Front-bumper centre, north (m).
        heading_deg: SUMO angle: degrees clockwise from north.
        length: Length (m).
        width: Width (m).
        height: Height (m).
    """

    id: str
    vtype: str
    x: float
    y: float
    heading_deg: float
    length: float
    width: float
    height: float


_LOCK = threading.Lock()
_OPEN: list[SumoWorld] = []


def _libsumo() -> ModuleType:
    try:
        import libsumo  # noqa: PLC0415 (the bench extra; absent on edge boxes)
    except ImportError as err:
        raise SourceError("the digital twin needs libsumo: install the 'bench' extra") from err
    module: ModuleType = libsumo
    return module


class SumoWorld:
    """A running libsumo simulation of the twin junction.

    Args:
        net: ``.net.xml`` path.
        routes: ``.rou.xml`` path.
        step_s: Simulation step length (one rendered frame per step).
        seed: SUMO's random seed (driver imperfection, speed deviation).
        tls_id: Id of the junction's traffic light, for the controller's actuator.
        extra_args: More SUMO options (for example a tripinfo output for delay measurements).

    Example:
        >>> world = SumoWorld(net, routes, step_s=0.1)      # doctest: +SKIP
        >>> world.step(); states = world.vehicles()         # doctest: +SKIP
        >>> world.close()                                   # doctest: +SKIP
    """

    def __init__(
        self,
        net: Path,
        routes: Path,
        *,
        step_s: float = 0.1,
        seed: int = 0,
        tls_id: str = "C",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.traci = _libsumo()
        with _LOCK:
            if _OPEN:
                raise SourceError("a libsumo simulation is already open in this process (libsumo runs one at a time)")
            try:
                self.traci.start(
                    [
                        "sumo",
                        "-n", str(net),
                        "-r", str(routes),
                        "--step-length", f"{step_s:.6g}",
                        "--seed", str(seed),
                        "--no-step-log", "true",
                        "--no-warnings", "true",
                        "--time-to-teleport", "300",
                        "--collision.action", "none",
                        *extra_args,
                    ]
                )
            except Exception as err:  # libsumo raises its own TraCIException or a bare error
                raise SourceError(f"SUMO did not start on {net.name}: {err}") from err
            _OPEN.append(self)
        self.step_s = step_s
        self.tls_id = tls_id
        self._dims: dict[str, tuple[float, float, float]] = {}
        self._closed = False

    @property
    def centre(self) -> tuple[float, float]:
        """World position of the signalised junction (netconvert may have shifted the network)."""
        x, y = self.traci.junction.getPosition(self.tls_id)
        return float(x), float(y)

    @property
    def time_s(self) -> float:
        """Simulation time in seconds."""
        return float(self.traci.simulation.getTime())

    def step(self) -> None:
        """Advance one step."""
        self.traci.simulationStep()

    def pending(self) -> int:
        """Vehicles still to come or still driving."""
        return int(self.traci.simulation.getMinExpectedNumber())

    def vehicles(self) -> list[VehicleState]:
        """Every vehicle in the network now."""
        v = self.traci.vehicle
        out: list[VehicleState] = []
        for vid in v.getIDList():
            vt = v.getTypeID(vid)
            dims = self._dims.get(vt)
            if dims is None:
                dims = (float(v.getLength(vid)), float(v.getWidth(vid)), float(v.getHeight(vid)))
                self._dims[vt] = dims
            x, y = v.getPosition(vid)
            out.append(VehicleState(vid, vt, float(x), float(y), float(v.getAngle(vid)), *dims))
        return out

    def road_ids(self) -> dict[str, str]:
        """Vehicle id -> id of the edge it is on (internal junction edges start with ``:``)."""
        v = self.traci.vehicle
        return {vid: str(v.getRoadID(vid)) for vid in v.getIDList()}

    def route_ends(self, vid: str) -> tuple[str, str]:
        """First and last edge of a vehicle's route."""
        r = self.traci.vehicle.getRoute(vid)
        return str(r[0]), str(r[-1])

    def arrived(self) -> list[str]:
        """Vehicles that left the network in the last step."""
        return [str(x) for x in self.traci.simulation.getArrivedIDList()]

    def geometry(self, centre: tuple[float, float] = (0.0, 0.0)) -> RoadGeometry:
        """The static road layout, read once after start."""
        lane_api: Any = self.traci.lane
        tls_lanes = set(self.traci.trafficlight.getControlledLanes(self.tls_id))
        lanes = []
        for lid in lane_api.getIDList():
            edge = str(lane_api.getEdgeID(lid))
            shape = tuple((float(x), float(y)) for x, y in lane_api.getShape(lid))
            lanes.append(
                LaneGeometry(
                    id=str(lid),
                    edge=edge,
                    index=int(str(lid).rsplit("_", 1)[1]),
                    shape=shape,
                    width=float(lane_api.getWidth(lid)),
                    internal=edge.startswith(":"),
                    stop_bar=lid in tls_lanes,
                )
            )
        junctions = tuple(
            tuple((float(x), float(y)) for x, y in self.traci.junction.getShape(j))
            for j in self.traci.junction.getIDList()
            if not str(j).startswith(":") and len(self.traci.junction.getShape(j)) >= 3
        )
        return RoadGeometry(tuple(sorted(lanes, key=lambda a: a.id)), junctions, centre)

    def close(self) -> None:
        """End the simulation (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with _LOCK:
            try:
                self.traci.close()
            finally:
                if self in _OPEN:
                    _OPEN.remove(self)

    def __enter__(self) -> SumoWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
