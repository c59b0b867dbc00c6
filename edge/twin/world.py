"""The simulated world behind the twin camera: a four-leg left-hand SUMO junction run by libsumo.

:func:`build_fourleg` writes the network (netconvert, ``--lefthand``: Indonesia drives on the
left) and :func:`write_routes` a demand of individual vehicles with random (Poisson) departures,
so that the route file states exactly how many vehicles of each class take each movement.
:class:`SumoWorld` starts libsumo on them, steps it, and reads back what the renderer needs.

libsumo runs one simulation per process (it is a module, not an object): only one
:class:`SumoWorld` may be open at a time, which :class:`SumoWorld` enforces.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from edge.errors import SourceError
from models.classes import VehicleClass

log = logging.getLogger(__name__)

#: Leg names in the order of their bearing from the centre (east, north, west, south).
LEGS: tuple[str, ...] = ("east", "north", "west", "south")
_BEARING = {"east": (1.0, 0.0), "north": (0.0, 1.0), "west": (-1.0, 0.0), "south": (0.0, -1.0)}

#: SUMO vehicle types of the twin: (id, vClass, length, width, height, max speed m/s, Simpang class).
VTYPES: tuple[tuple[str, str, float, float, float, float, VehicleClass], ...] = (
    ("car", "passenger", 4.4, 1.75, 1.5, 13.9, VehicleClass.CAR),
    ("motorcycle", "motorcycle", 1.95, 0.75, 1.75, 13.9, VehicleClass.MOTORCYCLE),
    ("bus", "bus", 11.5, 2.5, 3.2, 11.1, VehicleClass.BUS),
    ("truck", "truck", 7.6, 2.4, 3.1, 11.1, VehicleClass.TRUCK),
)
VTYPE_CLASS: dict[str, VehicleClass] = {t[0]: t[6] for t in VTYPES}

#: Default share of each vehicle type (Indonesian urban mix: motorcycles dominate).
DEFAULT_MIX: dict[str, float] = {"motorcycle": 0.62, "car": 0.30, "bus": 0.02, "truck": 0.06}


def turn_of(approach: str, exit_leg: str) -> str:
    """The turn from ``approach`` (the leg a vehicle comes from) to ``exit_leg``, driving on the left.

    Example:
        >>> turn_of("north", "east"), turn_of("north", "south"), turn_of("north", "west")
        ('left', 'through', 'right')
    """
    if approach == exit_leg:
        return "u_turn"
    ax, ay = _BEARING[approach]
    hx, hy = -ax, -ay  # heading when entering the junction
    ex, ey = _BEARING[exit_leg]
    cross = hx * ey - hy * ex
    if abs(cross) < 1e-9:
        return "through"
    return "left" if cross > 0 else "right"


def movement_id(approach: str, exit_leg: str) -> str:
    """Movement id used across the twin and its site file, for example ``north_left``."""
    return f"{approach}_{turn_of(approach, exit_leg)}"


def in_edge(leg: str) -> str:
    """SUMO id of the edge entering the junction from ``leg``."""
    return f"{leg}_in"


def out_edge(leg: str) -> str:
    """SUMO id of the edge leaving the junction towards ``leg``."""
    return f"{leg}_out"


@dataclass(frozen=True, slots=True)
class FourLegSpec:
    """Geometry of the generated four-leg junction."""

    leg_length_m: float = 160.0
    lanes: int = 2
    speed_mps: float = 13.9
    tls_id: str = "C"
    centre: tuple[float, float] = (0.0, 0.0)


def _run_tool(name: str, args: Sequence[str]) -> None:
    exe = shutil.which(name)
    if exe is None:
        try:
            import sumo

            exe = str(Path(sumo.SUMO_HOME) / "bin" / name)
        except ImportError as err:
            raise SourceError(f"{name} not found: install the 'bench' extra (eclipse-sumo)") from err
    proc = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SourceError(f"{name} failed: {proc.stderr.strip()[:500]}")


def build_fourleg(folder: Path, spec: FourLegSpec = FourLegSpec()) -> Path:
    """Write a four-leg signalised left-hand junction into ``folder``; return the ``.net.xml`` path."""
    folder.mkdir(parents=True, exist_ok=True)
    cx, cy = spec.centre
    nodes = [f'<node id="{spec.tls_id}" x="{cx}" y="{cy}" type="traffic_light"/>']
    edges = []
    for leg in LEGS:
        bx, by = _BEARING[leg]
        nodes.append(f'<node id="{leg}" x="{cx + bx * spec.leg_length_m}" y="{cy + by * spec.leg_length_m}" type="priority"/>')
        for eid, a, b in ((in_edge(leg), leg, spec.tls_id), (out_edge(leg), spec.tls_id, leg)):
            edges.append(
                f'<edge id="{eid}" from="{a}" to="{b}" numLanes="{spec.lanes}" speed="{spec.speed_mps}"/>'
            )
    (folder / "fourleg.nod.xml").write_text("<nodes>\n" + "\n".join(nodes) + "\n</nodes>\n")
    (folder / "fourleg.edg.xml").write_text("<edges>\n" + "\n".join(edges) + "\n</edges>\n")
    net = folder / "fourleg.net.xml"
    _run_tool(
        "netconvert",
        [
            "--node-files", str(folder / "fourleg.nod.xml"),
            "--edge-files", str(folder / "fourleg.edg.xml"),
            "--lefthand", "true",
            "--no-turnarounds", "true",
            "--tls.default-type", "static",
            "--output-file", str(net),
            "--no-warnings", "true",
            # Keep the node coordinates as given: the junction centre stays at spec.centre.
            "--offset.disable-normalization", "true",
        ],
    )
    return net


@dataclass(frozen=True, slots=True)
class Demand:
    """Vehicles per hour on each movement, and the class mix.

    Attributes:
        flows: ``(approach, exit)`` leg pair -> vehicles per hour.
        mix: vehicle type -> share (normalised).
        duration_s: Departures are drawn in ``[0, duration_s)``.
    """

    flows: Mapping[tuple[str, str], float]
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    duration_s: float = 3600.0

    @classmethod
    def uniform(cls, total_vph: float, duration_s: float = 3600.0, through_share: float = 0.6) -> Demand:
        """``total_vph`` split evenly over the four approaches, ``through_share`` going straight on."""
        flows: dict[tuple[str, str], float] = {}
        per_approach = total_vph / len(LEGS)
        for a in LEGS:
            for e in LEGS:
                t = turn_of(a, e)
                if t == "u_turn":
                    continue
                share = through_share if t == "through" else (1.0 - through_share) / 2.0
                flows[(a, e)] = per_approach * share
        return cls(flows=flows, duration_s=duration_s)

    def scaled(self, factor: float) -> Demand:
        """The same pattern with every flow multiplied by ``factor``."""
        return Demand({k: v * factor for k, v in self.flows.items()}, dict(self.mix), self.duration_s)


@dataclass(frozen=True, slots=True)
class PlannedVehicle:
    """One vehicle of the route file."""

    id: str
    vtype: str
    depart_s: float
    approach: str
    exit: str


def plan_vehicles(demand: Demand, seed: int) -> list[PlannedVehicle]:
    """Poisson departures for every movement and a class drawn from the mix, sorted by time."""
    rng = np.random.default_rng(seed)
    types = list(demand.mix)
    p = np.array([demand.mix[t] for t in types], dtype=np.float64)
    p /= p.sum()
    out: list[PlannedVehicle] = []
    for (a, e), vph in sorted(demand.flows.items()):
        if vph <= 0:
            continue
        rate = vph / 3600.0
        t = float(rng.exponential(1.0 / rate))
        while t < demand.duration_s:
            vt = types[int(rng.choice(len(types), p=p))]
            out.append(PlannedVehicle(f"{a}.{e}.{len(out)}", vt, round(t, 1), a, e))
            t += float(rng.exponential(1.0 / rate))
    out.sort(key=lambda v: (v.depart_s, v.id))
    return out


def write_routes(path: Path, vehicles: Sequence[PlannedVehicle]) -> Path:
    """Write the twin's vehicle types and ``vehicles`` as a SUMO route file."""
    lines = ["<routes>"]
    for vid, vclass, length, width, height, vmax, _ in VTYPES:
        extra = ' minGap="0.8" sigma="0.6" speedDev="0.15"' if vclass == "motorcycle" else ' sigma="0.5" speedDev="0.1"'
        lines.append(
            f'  <vType id="{vid}" vClass="{vclass}" length="{length}" width="{width}" height="{height}" maxSpeed="{vmax}"{extra}/>'
        )
    for v in vehicles:
        route = f"{in_edge(v.approach)} {out_edge(v.exit)}"
        lines.append(
            f'  <vehicle id={quoteattr(v.id)} type="{v.vtype}" depart="{v.depart_s:.1f}" departLane="best" departSpeed="max">'
            f'<route edges="{route}"/></vehicle>'
        )
    lines.append("</routes>")
    path.write_text("\n".join(lines) + "\n")
    return path


def count_planned(vehicles: Sequence[PlannedVehicle]) -> dict[str, dict[str, int]]:
    """Movement id -> class label -> number of vehicles, as the route file states it."""
    out: dict[str, dict[str, int]] = {}
    for v in vehicles:
        per = out.setdefault(movement_id(v.approach, v.exit), {})
        label = VTYPE_CLASS[v.vtype].label
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
        import libsumo
    except ImportError as err:
        raise SourceError("the digital twin needs libsumo: install the 'bench' extra") from err
    return libsumo


class SumoWorld:
    """A running libsumo simulation of the twin junction.

    Args:
        net: ``.net.xml`` path.
        routes: ``.rou.xml`` path.
        step_s: Simulation step length (one rendered frame per step).
        seed: SUMO's random seed (driver imperfection, speed deviation).
        tls_id: Id of the junction's traffic light, for the controller's actuator.

    Example:
        >>> world = SumoWorld(net, routes, step_s=0.1)      # doctest: +SKIP
        >>> world.step(); states = world.vehicles()         # doctest: +SKIP
        >>> world.close()                                   # doctest: +SKIP
    """

    def __init__(self, net: Path, routes: Path, step_s: float = 0.1, seed: int = 0, tls_id: str = "C") -> None:
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


def heading_vector(heading_deg: float) -> tuple[float, float]:
    """Unit vector of a SUMO angle (clockwise from north)."""
    a = math.radians(heading_deg)
    return math.sin(a), math.cos(a)
