"""A four-leg signalised intersection with Indonesian traffic, generated for SUMO.

The geometry is written as plain XML (nodes, edges, explicit lane-to-lane connections) and built
with ``netconvert --lefthand``, because Indonesia drives on the left: lane 0 of every edge is the
kerb-side (left) lane and right turns are the ones that cross opposing traffic.

Layout (all legs 300 m long, 50 km/h, 3.25 m lanes, the usual width of an Indonesian urban
arterial lane)::

                 north
                  |  |
    west  ------  C  ------  east
                  |  |
                 south

Each approach (``<leg>_in``) has three lanes: lane 0 (kerb) for left turns and through, lane 1
through, lane 2 (median) right turns only. Each exit (``<leg>_out``) has two lanes.

Phases (NEMA-style numbers, mirrored for left-hand traffic)::

    1  north + south right turns, protected
    2  north + south through and left (right turns may filter through gaps: SUMO state 'g')
    3  east + west right turns, protected
    4  east + west through and left (right turns permissive)

Stages, in default order: 2, 1, 4, 3 (lagging protected right turns).

Demand is a non-homogeneous Poisson process per approach, drawn with ``numpy`` from ``seed``:
about two thirds motorcycles (SUMO vClass ``motorcycle``), then cars, trucks and buses. The
demand profile over ``duration_s`` ramps up to a peak, holds an oversaturated period and then
recovers (see :data:`PROFILE`). The same ``seed`` always yields the same route file.

Example:
    >>> from pathlib import Path
    >>> sc = build(Path("/tmp/fourleg"), seed=1, duration_s=600)  # doctest: +SKIP
    >>> sc.approaches["north"]
    ('north_in_0', 'north_in_1', 'north_in_2')
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from controller.config import PhaseConfig, PhaseTimings, SignalConfig
from controller.errors import ScenarioError

log = logging.getLogger(__name__)

NAME = "fourleg"
TLS_ID = "C"
LEG_LENGTH_M = 300.0
LANE_WIDTH_M = 3.25
SPEED_MS = 13.89
LEGS = ("north", "east", "south", "west")
_POS = {"north": (0.0, 1.0), "east": (1.0, 0.0), "south": (0.0, -1.0), "west": (-1.0, 0.0)}
#: Left-hand traffic: where each turn from each approach leads.
_TURNS: dict[str, dict[str, str]] = {
    "north": {"left": "east", "through": "south", "right": "west"},
    "south": {"left": "west", "through": "north", "right": "east"},
    "east": {"left": "south", "through": "west", "right": "north"},
    "west": {"left": "north", "through": "east", "right": "south"},
}
#: (from lane, to lane) per turn, lane 0 being the kerb-side lane (left in left-hand traffic).
_LANES_OF_TURN = {"left": [(0, 0)], "through": [(0, 0), (1, 1)], "right": [(2, 1)]}

#: Peak-hour arrivals per approach (vehicles per hour, all classes) and turning shares.
PEAK_VEH_H = {"north": 2500.0, "south": 2300.0, "east": 1600.0, "west": 1400.0}
TURN_SHARE = {"left": 0.2, "through": 0.6, "right": 0.2}
#: Class shares of Indonesian urban traffic (motorcycles about two thirds).
CLASS_SHARE = {"motorcycle": 0.66, "car": 0.27, "truck": 0.05, "bus": 0.02}
#: Demand profile: (fraction of duration, multiplier of peak), linearly interpolated. Ramp to the
#: peak, an oversaturated plateau above it, then recovery.
PROFILE = ((0.0, 0.35), (0.15, 0.8), (0.3, 1.0), (0.38, 1.3), (0.62, 1.3), (0.72, 0.8), (1.0, 0.45))

_VTYPES = """\
    <vType id="motorcycle" vClass="motorcycle" length="2.0" width="0.8" minGap="1.0" accel="3.0" decel="5.5" emergencyDecel="8.0" maxSpeed="16.7" sigma="0.5" tau="0.8" speedFactor="normc(1.05,0.1,0.7,1.4)" guiShape="motorcycle" color="0,170,255"/>
    <vType id="car" vClass="passenger" length="4.3" width="1.7" minGap="2.5" accel="2.6" decel="4.5" sigma="0.5" tau="1.0" speedFactor="normc(1,0.1,0.7,1.3)" color="255,255,0"/>
    <vType id="truck" vClass="truck" length="8.0" width="2.4" minGap="2.5" accel="1.3" decel="4.0" sigma="0.5" tau="1.2" speedFactor="normc(0.9,0.1,0.6,1.1)" color="200,80,0"/>
    <vType id="bus" vClass="bus" length="11.0" width="2.5" minGap="2.5" accel="1.2" decel="4.0" sigma="0.5" tau="1.2" speedFactor="normc(0.9,0.1,0.6,1.1)" color="0,200,0"/>
"""


@dataclass(frozen=True)
class Scenario:
    """Paths and ids of one generated SUMO scenario.

    Attributes:
        name: Scenario name.
        net_file: The ``.net.xml``.
        route_file: The ``.rou.xml`` (vehicle types and vehicles).
        sumocfg: A ``.sumocfg`` tying them together (run it with ``sumo-gui -c`` to watch).
        tls_id: Id of the traffic light.
        approaches: Approach id -> incoming lane ids (stop line at the lane's end).
        groups: Detection group id -> lane ids: what the camera measures separately and what
            the phases' ``approaches`` name (``north`` = kerb and through lanes, ``north_right``
            = the right-turn lane).
        movements: Movement id -> (from edge, to edge).
        phase_ids: Phase numbers of :func:`signal_config`.
        permissive: Phase id -> movements that may filter through gaps ('g') while it is green.
        approach_width_m: Effective width per detection group (PKJI saturation flow).
        peak_flows: Detection group -> class label -> peak vehicles per hour (fixed-time design).
        duration_s: Simulated demand horizon.
        seed: Seed the demand was drawn with.
    """

    name: str
    net_file: Path
    route_file: Path
    sumocfg: Path
    tls_id: str
    approaches: dict[str, tuple[str, ...]]
    groups: dict[str, tuple[str, ...]]
    movements: dict[str, tuple[str, str]]
    phase_ids: tuple[int, ...]
    permissive: dict[int, tuple[str, ...]] = field(default_factory=dict)
    approach_width_m: dict[str, float] = field(default_factory=dict)
    peak_flows: dict[str, dict[str, float]] = field(default_factory=dict)
    duration_s: float = 3600.0
    seed: int = 0


def movement_id(leg: str, turn: str) -> str:
    """Id of the movement that turns ``turn`` from approach ``leg``, e.g. ``north_left``."""
    return f"{leg}_{turn}"


def signal_config(lane_groups: bool = False) -> SignalConfig:
    """The phases, conflict matrix and stage list of the four-leg intersection.

    Args:
        lane_groups: Name the right-turn lanes as detection groups of their own
            (``north_right``...) in the phases' ``approaches``, for a camera whose zones split
            each approach into its through/left lanes and its right-turn lane (the SUMO harness
            does). By default the phases name whole approaches (``north``...), as a site file
            with one zone per approach does.
    """
    def moves(legs: tuple[str, ...], turns: tuple[str, ...]) -> list[str]:
        return [movement_id(leg, t) for leg in legs for t in turns]

    def rights(legs: tuple[str, ...]) -> list[str]:
        return [f"{leg}_right" if lane_groups else leg for leg in legs]

    through = PhaseTimings(min_green=10.0, passage=2.5, max_green=60.0, yellow=3.0, red_clearance=2.0)
    right = PhaseTimings(min_green=7.0, passage=2.0, max_green=30.0, yellow=3.0, red_clearance=2.0)
    ns, ew = ("north", "south"), ("east", "west")
    phases = [
        PhaseConfig(id=1, name="north-south right turns", movements=moves(ns, ("right",)), approaches=rights(ns), timings=right),
        PhaseConfig(id=2, name="north-south through and left", movements=moves(ns, ("through", "left")), approaches=list(ns), timings=through),
        PhaseConfig(id=3, name="east-west right turns", movements=moves(ew, ("right",)), approaches=rights(ew), timings=right),
        PhaseConfig(id=4, name="east-west through and left", movements=moves(ew, ("through", "left")), approaches=list(ew), timings=through),
    ]
    conflicts = [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
    return SignalConfig(phases=phases, conflicts=conflicts, stages=[[2], [1], [4], [3]])


def profile(frac: float) -> float:
    """Demand multiplier of the peak at ``frac`` (0..1) of the horizon."""
    xs = [p[0] for p in PROFILE]
    ys = [p[1] for p in PROFILE]
    return float(np.interp(min(max(frac, 0.0), 1.0), xs, ys))


def build(out_dir: Path, seed: int, duration_s: float = 3600.0, demand_scale: float = 1.0) -> Scenario:
    """Write the net, routes and sumocfg into ``out_dir`` and describe them.

    Args:
        out_dir: Directory to write into (created if needed); files are overwritten.
        seed: Seed of the demand draw (the network does not depend on it).
        duration_s: Horizon over which the demand profile is spread, in seconds.
        demand_scale: Multiplier on all flows (1.0 is the design demand).

    Raises:
        ScenarioError: When SUMO's ``netconvert`` is missing or fails, or arguments are invalid.
    """
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise ScenarioError(f"duration_s must be a positive number, got {duration_s}")
    if not (demand_scale >= 0 and math.isfinite(demand_scale)):
        raise ScenarioError(f"demand_scale must be a non-negative number, got {demand_scale}")
    out_dir.mkdir(parents=True, exist_ok=True)
    net_file = out_dir / f"{NAME}.net.xml"
    _build_net(out_dir, net_file)
    route_file = out_dir / f"{NAME}.rou.xml"
    route_file.write_text(_routes_xml(seed, duration_s, demand_scale))
    sumocfg = out_dir / f"{NAME}.sumocfg"
    sumocfg.write_text(
        "<configuration>\n"
        f"  <input><net-file value={quoteattr(net_file.name)}/><route-files value={quoteattr(route_file.name)}/></input>\n"
        f"  <time><begin value=\"0\"/><end value=\"{duration_s:g}\"/></time>\n"
        f"  <random_number><seed value=\"{seed}\"/></random_number>\n"
        "</configuration>\n"
    )
    approaches = {leg: tuple(f"{leg}_in_{i}" for i in range(3)) for leg in LEGS}
    movements = {
        movement_id(leg, turn): (f"{leg}_in", f"{dest}_out") for leg in LEGS for turn, dest in _TURNS[leg].items()
    }
    groups: dict[str, tuple[str, ...]] = {}
    widths: dict[str, float] = {}
    peak: dict[str, dict[str, float]] = {}
    for leg in LEGS:
        for gid, lanes, share in (
            (leg, (0, 1), TURN_SHARE["left"] + TURN_SHARE["through"]),
            (f"{leg}_right", (2,), TURN_SHARE["right"]),
        ):
            groups[gid] = tuple(f"{leg}_in_{i}" for i in lanes)
            widths[gid] = len(lanes) * LANE_WIDTH_M
            peak[gid] = {cls: PEAK_VEH_H[leg] * demand_scale * share * c for cls, c in CLASS_SHARE.items()}
    return Scenario(
        name=NAME,
        net_file=net_file,
        route_file=route_file,
        sumocfg=sumocfg,
        tls_id=TLS_ID,
        approaches=approaches,
        groups=groups,
        movements=movements,
        phase_ids=(1, 2, 3, 4),
        permissive={2: ("north_right", "south_right"), 4: ("east_right", "west_right")},
        approach_width_m=widths,
        peak_flows=peak,
        duration_s=duration_s,
        seed=seed,
    )


def _netconvert() -> str:
    try:
        from sumo import SUMO_HOME  # noqa: PLC0415 (optional bench extra; absent on edge boxes)
    except ImportError as err:
        found = shutil.which("netconvert")
        if found is None:
            raise ScenarioError("SUMO is not installed: pip install 'simpang[bench]'") from err
        return found
    return str(Path(SUMO_HOME) / "bin" / "netconvert")


def _build_net(out_dir: Path, net_file: Path) -> None:
    nodes = ['<nodes>', f'  <node id="{TLS_ID}" x="0" y="0" type="traffic_light" tl="{TLS_ID}"/>']
    edges = ['<edges>']
    for leg in LEGS:
        dx, dy = _POS[leg]
        nodes.append(f'  <node id="{leg}" x="{dx * LEG_LENGTH_M:g}" y="{dy * LEG_LENGTH_M:g}" type="priority"/>')
        edges.append(
            f'  <edge id="{leg}_in" from="{leg}" to="{TLS_ID}" numLanes="3" speed="{SPEED_MS}" width="{LANE_WIDTH_M}"/>'
        )
        edges.append(
            f'  <edge id="{leg}_out" from="{TLS_ID}" to="{leg}" numLanes="2" speed="{SPEED_MS}" width="{LANE_WIDTH_M}"/>'
        )
    nodes.append('</nodes>')
    edges.append('</edges>')
    cons = ['<connections>']
    for leg in LEGS:
        for turn, dest in _TURNS[leg].items():
            for a, b in _LANES_OF_TURN[turn]:
                cons.append(f'  <connection from="{leg}_in" to="{dest}_out" fromLane="{a}" toLane="{b}"/>')
    cons.append('</connections>')
    (out_dir / "fourleg.nod.xml").write_text("\n".join(nodes) + "\n")
    (out_dir / "fourleg.edg.xml").write_text("\n".join(edges) + "\n")
    (out_dir / "fourleg.con.xml").write_text("\n".join(cons) + "\n")
    cmd = [
        _netconvert(),
        "--node-files", "fourleg.nod.xml",
        "--edge-files", "fourleg.edg.xml",
        "--connection-files", "fourleg.con.xml",
        "--lefthand", "true",
        "--no-turnarounds", "true",
        "--junctions.corner-detail", "5",
        "--tls.yellow.time", "3",
        "--output-file", net_file.name,
        "--no-warnings", "true",
    ]
    try:
        subprocess.run(cmd, cwd=out_dir, check=True, capture_output=True, text=True, timeout=120)
    except FileNotFoundError as err:
        raise ScenarioError(f"netconvert not found at {cmd[0]}") from err
    except subprocess.CalledProcessError as err:
        raise ScenarioError(f"netconvert failed: {err.stderr.strip().splitlines()[-1:]}") from err


def _routes_xml(seed: int, duration_s: float, demand_scale: float) -> str:
    rng = np.random.default_rng(seed)
    lines = ['<routes>', _VTYPES.rstrip("\n")]
    for leg in LEGS:
        for turn, dest in _TURNS[leg].items():
            lines.append(f'    <route id="{movement_id(leg, turn)}" edges="{leg}_in {dest}_out"/>')
    classes = list(CLASS_SHARE)
    class_p = np.array([CLASS_SHARE[c] for c in classes])
    turns = list(TURN_SHARE)
    turn_p = np.array([TURN_SHARE[t] for t in turns])
    vehicles: list[tuple[float, str, str, str]] = []
    for leg in LEGS:
        # Thinning (Lewis and Shedler): draw at the maximum rate and keep each arrival with
        # probability rate(t) / max rate, which gives exactly the time-varying Poisson process.
        lam_max = PEAK_VEH_H[leg] * demand_scale * max(p[1] for p in PROFILE) / 3600.0
        if lam_max <= 0:
            continue
        t = 0.0
        n = 0
        while True:
            t += float(rng.exponential(1.0 / lam_max))
            if t >= duration_s:
                break
            keep = rng.random() < profile(t / duration_s) * PEAK_VEH_H[leg] * demand_scale / 3600.0 / lam_max
            if not keep:
                continue
            cls = classes[int(rng.choice(len(classes), p=class_p))]
            turn = turns[int(rng.choice(len(turns), p=turn_p))]
            vehicles.append((round(t, 1), f"{leg}.{n}", cls, movement_id(leg, turn)))
            n += 1
    vehicles.sort()
    for depart, vid, cls, route in vehicles:
        lines.append(
            f'    <vehicle id="{vid}" type="{cls}" route="{route}" depart="{depart:.1f}" departLane="best" departSpeed="max"/>'
        )
    lines.append('</routes>')
    return "\n".join(lines) + "\n"
