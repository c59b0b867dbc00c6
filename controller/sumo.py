"""SUMO evaluation harness: run Simpang controllers and SUMO's own programs on the same scenario.

Everything runs in-process through ``libsumo``. Per run:

1. the scenario's net and routes are loaded with the run's seed, tripinfo output with unfinished
   and never-departed vehicles (``--tripinfo-output.write-unfinished``/``write-undeparted``);
2. lane-area detectors (E2) are added on every controlled incoming lane, limited to the camera's
   range from the stop line (``camera_range_m``), plus a short stop-line zone; they are the only
   thing Simpang's controllers see (:func:`observe`);
3. for a Simpang controller, each TLS gets its own :class:`~controller.supervisor.Supervisor`;
   every second the supervisor decides and :class:`SumoActuator` writes the legal state to SUMO.
   For ``sumo_static``, ``sumo_actuated`` and ``sumo_delay_based`` SUMO runs the program itself
   (static: the net's own program; the other two: the same phase sequence with SUMO's actuated
   or delay-based logic, SUMO placing its own detectors);
4. delay is the RESCO metric: the mean over all vehicles of ``timeLoss + departDelay``.

Intersections are described by :class:`Intersection`. The four-leg scenario brings its own
signal config; for other nets (RESCO) :func:`intersections_from_net` derives one per TLS from the
net's ``tlLogic``: each distinct green phase becomes a phase and a stage of its own, all pairs in
conflict (so any two are separated by yellow), timings at least as strict as RESCO's (3 s yellow,
7 s minimum green).
"""

from __future__ import annotations

import logging
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config import ControllerConfig, PhaseConfig, PhaseTimings, SignalConfig
from controller.envelope import Light, SignalState
from controller.errors import ScenarioError
from controller.observation import ApproachObservation, Observation
from controller.policy import Policy
from controller.supervisor import Supervisor
from models.classes import VehicleClass

log = logging.getLogger(__name__)

SIMPANG_CONTROLLERS = ("fixed", "actuated", "max_pressure", "simpang")
SUMO_CONTROLLERS = ("sumo_static", "sumo_actuated", "sumo_delay_based")
STOP_ZONE_M = 10.0
#: A vehicle slower than this is queued (SUMO's own halting threshold for jams, 5 km/h).
HALTING_MPS = 1.39

_VCLASS = {
    "motorcycle": VehicleClass.MOTORCYCLE,
    "moped": VehicleClass.MOTORCYCLE,
    "passenger": VehicleClass.CAR,
    "taxi": VehicleClass.CAR,
    "private": VehicleClass.CAR,
    "evehicle": VehicleClass.CAR,
    "bus": VehicleClass.BUS,
    "coach": VehicleClass.BUS,
    "truck": VehicleClass.TRUCK,
    "trailer": VehicleClass.TRUCK,
    "delivery": VehicleClass.TRUCK,
    "bicycle": VehicleClass.BICYCLE,
}


@dataclass(frozen=True)
class Intersection:
    """One signalised junction as the harness drives it.

    Attributes:
        tls_id: SUMO traffic light id.
        signal: Its phases, conflicts and stages.
        links: Phase id -> one character per SUMO link: ``G`` (protected), ``g`` (permissive),
            ``r`` (not served) while that phase is green.
        groups: Detection group id -> incoming lane ids.
        design_flows: Detection group -> design flow (pcu/h) for Webster, when known.
        saturation: Detection group -> saturation flow (pcu/h of green), when known.
        stop_go: Links the net lets go on red after a full stop (SUMO ``s``: right turn on red,
            yielding to every other stream); they show ``s`` whenever no green serves them.
    """

    tls_id: str
    signal: SignalConfig
    links: dict[int, str]
    groups: dict[str, tuple[str, ...]]
    design_flows: dict[str, float] = field(default_factory=dict)
    saturation: dict[str, float] = field(default_factory=dict)
    stop_go: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Case:
    """A runnable SUMO scenario."""

    name: str
    net_file: Path
    route_files: tuple[Path, ...]
    begin: float
    end: float
    intersections: tuple[Intersection, ...]
    extra_args: tuple[str, ...] = ()


def link_state(inter: Intersection, state: SignalState) -> str:
    """The SUMO ``G/g/y/r`` string for ``state``.

    A link keeps its green through a stage change when both the ending and the coming stage give
    it right of way (both are conflict-free sets, so it is compatible with each); every other link
    of an ending phase shows yellow, then red.
    """
    n = len(next(iter(inter.links.values())))
    out = ["r"] * n
    target_links: set[int] = set()
    if state.target is not None:
        for pid in inter.signal.stages[state.target]:
            target_links.update(i for i, c in enumerate(inter.links[pid]) if c in "Gg")
    for pid, light in state.lights.items():
        pl = inter.links[pid]
        for i, c in enumerate(pl):
            if c not in "Gg":
                continue
            if light is Light.GREEN:
                if c == "G" or out[i] != "G":
                    out[i] = c
            elif light is Light.YELLOW and out[i] == "r":
                out[i] = "y"
    if state.target is not None:
        coming = inter.signal.stages[state.target]
        for i in target_links:
            ending = [inter.links[pid][i] for pid in state.lights
                      if state.lights[pid] is Light.YELLOW and inter.links[pid][i] in "Gg"]
            if out[i] == "y" and ending:
                # Carried through the change: protected only if protected on both sides, else it
                # stays permissive (yielding) while the ending streams clear.
                both_g = all(c == "G" for c in ending) and any(inter.links[p][i] == "G" for p in coming)
                out[i] = "G" if both_g else "g"
    for i in inter.stop_go:
        if out[i] == "r":
            out[i] = "s"
    return "".join(out)


class SumoActuator:
    """Writes envelope states to one SUMO traffic light (libsumo)."""

    def __init__(self, traci: Any, inter: Intersection) -> None:
        self._traci = traci
        self._inter = inter
        self.last = ""

    def apply(self, state: SignalState) -> None:
        """Set the TLS to the state's link string (only when it changes)."""
        s = link_state(self._inter, state)
        if s != self.last:
            self._traci.trafficlight.setRedYellowGreenState(self._inter.tls_id, s)
            self.last = s


@dataclass
class RunResult:
    """Outcome of one controller on one scenario and seed."""

    scenario: str
    controller: str
    seed: int
    delay_s: float
    vehicles: int
    unfinished: int
    undeparted: int
    decision_ms_mean: float = 0.0
    decision_ms_p99: float = 0.0
    decisions: int = 0
    wall_s: float = 0.0
    series_t: list[float] = field(default_factory=list)
    series_queue: list[float] = field(default_factory=list)
    delay_by_depart: list[tuple[float, float]] = field(default_factory=list)
    hires_events: int = 0
    fallback_steps: int = 0


def camera_detectors(case: Case, camera_range_m: float) -> str:
    """Additional-file XML with the camera's E2 detectors: per group lane, one covering the last
    ``camera_range_m`` metres before the stop line (or the whole lane when shorter) and one
    covering the stop-line zone."""
    lengths = {
        lane.get("id", ""): float(lane.get("length", "0"))
        for lane in ET.parse(case.net_file).getroot().iter("lane")
    }
    out = ["<additional>"]
    for inter in case.intersections:
        for lanes in inter.groups.values():
            for lane in lanes:
                length = lengths[lane]
                reach = min(camera_range_m, length)
                zone = min(STOP_ZONE_M, length)
                out.append(
                    f'  <laneAreaDetector id="cam_{lane}" lane="{lane}" pos="{length - reach:.2f}" '
                    f'length="{reach:.2f}" period="86400" file="NUL"/>'
                )
                out.append(
                    f'  <laneAreaDetector id="stop_{lane}" lane="{lane}" pos="{length - zone:.2f}" '
                    f'length="{zone:.2f}" period="86400" file="NUL"/>'
                )
    out.append("</additional>")
    return "\n".join(out) + "\n"


class CameraView:
    """Reads the camera-range E2 detectors of one intersection into an :class:`Observation`.

    Args:
        traci: The TraCI (or libsumo) module of the running simulation.
        inter: The intersection and its detection groups.
        reach: Detection group -> metres up from the stop line that a real camera actually sees,
            where that is less than the detectors' range (the approaches that pass below or behind
            a corner pole camera). Such a group is read from the vehicles within that reach, as a
            perfect detector on the real view would see them, and reports the reach as its
            ``view_m``, as the vision pipeline reports the far end of its queue zone.
    """

    def __init__(self, traci: Any, inter: Intersection, reach: Mapping[str, float] | None = None) -> None:
        self._traci = traci
        self._inter = inter
        self._dets = {
            gid: [(f"cam_{lane}", f"stop_{lane}", lane) for lane in lanes] for gid, lanes in inter.groups.items()
        }
        self._view = {
            gid: min(float(traci.lanearea.getLength(d[0])) for d in dets) for gid, dets in self._dets.items()
        }
        self._reach = {g: float(r) for g, r in (reach or {}).items() if g in self._view and 0 < r < self._view[g]}
        self._lane_m = {
            lane: float(traci.lane.getLength(lane)) for g in self._reach for _cam, _stop, lane in self._dets[g]
        }
        self._seen: dict[str, set[str]] = {gid: set() for gid in inter.groups}
        self._vclass: dict[str, VehicleClass] = {}

    def observe(self, t: float) -> Observation:
        """Camera measures of every group at simulation time ``t``."""
        la = self._traci.lanearea
        groups: dict[str, ApproachObservation] = {}
        for gid, dets in self._dets.items():
            q_veh = 0.0
            q_m = 0.0
            occ = 0.0
            now_ids: set[str] = set()
            for did, stop, _lane in dets:
                occ = max(occ, la.getLastStepOccupancy(stop) / 100.0)
                if gid not in self._reach:
                    q_veh += la.getJamLengthVehicle(did)
                    q_m = max(q_m, la.getJamLengthMeters(did))
                    now_ids.update(la.getLastStepVehicleIDs(did))
            if gid in self._reach:
                q_veh, q_m, now_ids = self._within_reach(gid)
            prev = self._seen[gid]
            arrivals: dict[VehicleClass, int] = {}
            for vid in now_ids - prev:
                cls = self._vclass.get(vid)
                if cls is None:
                    cls = _VCLASS.get(self._traci.vehicle.getVehicleClass(vid), VehicleClass.CAR)
                    self._vclass[vid] = cls
                arrivals[cls] = arrivals.get(cls, 0) + 1
            departures = len(prev - now_ids)
            for vid in prev - now_ids:
                self._vclass.pop(vid, None)
            self._seen[gid] = now_ids
            groups[gid] = ApproachObservation(
                queue_veh=q_veh, queue_m=q_m, occupancy=occ, arrivals=arrivals, departures=departures,
                view_m=self._reach.get(gid, self._view[gid]),
            )
        return Observation(t=t, groups=groups)

    def _within_reach(self, gid: str) -> tuple[float, float, set[str]]:
        """Queued vehicles, queue length and vehicles present within a group's reach."""
        reach = self._reach[gid]
        veh = self._traci.vehicle
        q_veh, q_m, ids = 0.0, 0.0, set()
        for _cam, _stop, lane in self._dets[gid]:
            end = self._lane_m[lane]
            for vid in self._traci.lane.getLastStepVehicleIDs(lane):
                front = end - float(veh.getLanePosition(vid))
                if front > reach:
                    continue
                ids.add(vid)
                if float(veh.getSpeed(vid)) < HALTING_MPS:
                    q_veh += 1.0
                    q_m = max(q_m, min(front + float(veh.getLength(vid)), reach))
        return q_veh, q_m, ids


def sumo_binary() -> str:
    """Path of the ``sumo`` binary of the installed eclipse-sumo wheel (for the SUMO baselines' check)."""
    try:
        from sumo import SUMO_HOME  # noqa: PLC0415 (bench extra only)
    except ImportError as err:
        raise ScenarioError("SUMO is not installed: pip install 'simpang[bench]'") from err
    return str(Path(SUMO_HOME) / "bin" / "sumo")


def _libsumo() -> Any:
    try:
        import libsumo  # noqa: PLC0415 (bench extra only)
    except ImportError as err:
        raise ScenarioError("libsumo is not installed: pip install 'simpang[bench]'") from err
    return libsumo


def program_xml(inters: tuple[Intersection, ...], kind: str) -> str:
    """An additional file with one ``tlLogic`` per intersection of SUMO type ``kind``.

    The phase sequence is the stage list; each green is followed by yellow (links leaving right
    of way) and, when configured, all-red clearance.
    """
    out = ["<additional>"]
    for inter in inters:
        out.append(f'  <tlLogic id="{inter.tls_id}" type="{kind}" programID="simpang_{kind}" offset="0">')
        if kind == "delay_based":
            out.append('    <param key="detectorRange" value="75"/>')
        stages = inter.signal.stages
        n = len(next(iter(inter.links.values())))
        for k, stage in enumerate(stages):
            nxt = stages[(k + 1) % len(stages)]
            green = _merge([inter.links[p] for p in stage], n)
            coming = _merge([inter.links[p] for p in nxt], n)
            t = [inter.signal.phase(p).timings for p in stage]
            mn = max(x.min_green for x in t)
            mx = min(x.max_green for x in t)
            yel = max(x.yellow for x in t)
            red = max(x.red_clearance for x in t)
            dur = (mn + mx) / 2
            out.append(f'    <phase duration="{dur:g}" minDur="{mn:g}" maxDur="{mx:g}" state="{green}"/>')
            ystate = "".join(
                ("y" if c in "Gg" and coming[i] not in "Gg" else c) for i, c in enumerate(green)
            )
            out.append(f'    <phase duration="{yel:g}" state="{ystate}"/>')
            if red > 0:
                rstate = "".join(("r" if c == "y" else c) for c in ystate)
                out.append(f'    <phase duration="{red:g}" state="{rstate}"/>')
        out.append("  </tlLogic>")
    out.append("</additional>")
    return "\n".join(out) + "\n"


def _merge(states: list[str], n: int) -> str:
    out = ["r"] * n
    for s in states:
        for i, c in enumerate(s):
            if c == "G" or (c == "g" and out[i] != "G"):
                out[i] = c
    return "".join(out)


def parse_tripinfo(path: Path) -> tuple[float, int, int, int, list[tuple[float, float]]]:
    """RESCO delay from a tripinfo file: (mean of timeLoss + departDelay, vehicles, unfinished,
    undeparted, per-vehicle (depart, delay) pairs)."""
    total = 0.0
    n = unfinished = undeparted = 0
    pairs: list[tuple[float, float]] = []
    for _ev, el in ET.iterparse(path):
        if el.tag != "tripinfo":
            continue
        loss = float(el.get("timeLoss", "0"))
        dd = float(el.get("departDelay", "0"))
        depart = float(el.get("depart", "-1"))
        arrival = float(el.get("arrival", "-1"))
        if depart < 0:
            undeparted += 1
        elif arrival < 0:
            unfinished += 1
        d = max(loss, 0.0) + max(dd, 0.0)
        total += d
        n += 1
        pairs.append((depart, d))
        el.clear()
    return (total / n if n else math.nan), n, unfinished, undeparted, pairs


PolicyFactory = Callable[[Intersection], tuple[Policy, Policy]]


def run(
    case: Case,
    controller: str,
    seed: int,
    workdir: Path,
    *,
    make_policy: PolicyFactory | None = None,
    config: ControllerConfig | None = None,
    series_every_s: float = 30.0,
    hires_csv: Path | None = None,
    check: Callable[[Intersection, SignalState, str], None] | None = None,
    end: float | None = None,
) -> RunResult:
    """Run one controller on ``case`` with ``seed`` and return the RESCO delay and more.

    Args:
        case: The scenario.
        controller: One of :data:`SIMPANG_CONTROLLERS` or :data:`SUMO_CONTROLLERS`.
        seed: SUMO's random seed.
        workdir: Where to write tripinfo and additional files.
        make_policy: For Simpang controllers: intersection -> (policy, fixed-time fallback).
        config: Controller settings (camera range, staleness); defaults otherwise.
        series_every_s: Sampling period of the queue time series.
        hires_csv: Write the hi-res event log of every TLS here (ATSPM CSV), if given.
        check: Called after every step with (intersection, envelope state, SUMO's state string).
        end: Stop earlier than the case's end (for tests and quick looks).

    Raises:
        ScenarioError: Unknown controller, or SUMO failing to load the scenario.
    """
    if controller not in SIMPANG_CONTROLLERS + SUMO_CONTROLLERS:
        raise ScenarioError(f"unknown controller {controller!r}; choose from {', '.join(SIMPANG_CONTROLLERS + SUMO_CONTROLLERS)}")
    cfg = config or ControllerConfig()
    traci = _libsumo()
    workdir.mkdir(parents=True, exist_ok=True)
    tripinfo = workdir / f"tripinfo_{controller}_{seed}.xml"
    stop = case.end if end is None else min(end, case.end)
    args = [
        "sumo", "-n", str(case.net_file), "-r", ",".join(str(r) for r in case.route_files),
        "-b", f"{case.begin:g}", "-e", f"{stop:g}", "--seed", str(seed),
        "--tripinfo-output", str(tripinfo),
        "--tripinfo-output.write-unfinished", "true", "--tripinfo-output.write-undeparted", "true",
        "--no-step-log", "true", "--no-warnings", "true", "--duration-log.disable", "true",
        "--time-to-teleport", "-1", "--step-length", "1",
        *case.extra_args,
    ]
    if controller in ("sumo_actuated", "sumo_delay_based"):
        kind = controller.removeprefix("sumo_")
        add = workdir / f"programs_{kind}.add.xml"
        add.write_text(program_xml(case.intersections, kind))
        args += ["-a", str(add)]
    elif controller in SIMPANG_CONTROLLERS:
        add = workdir / f"camera_{cfg.camera_range_m:g}m.add.xml"
        add.write_text(camera_detectors(case, cfg.camera_range_m))
        args += ["-a", str(add)]
    t0 = time.perf_counter()
    try:
        traci.start(args)
    except traci.TraCIException as err:  # pragma: no cover - depends on the SUMO build
        raise ScenarioError(f"SUMO could not load {case.name}: {err}") from err
    result = RunResult(scenario=case.name, controller=controller, seed=seed, delay_s=math.nan,
                       vehicles=0, unfinished=0, undeparted=0)
    try:
        _drive(traci, case, controller, cfg=cfg, make_policy=make_policy, result=result,
               series_every_s=series_every_s, hires_csv=hires_csv, check=check, stop=stop)
    finally:
        traci.close()
    result.wall_s = time.perf_counter() - t0
    delay, n, unf, und, pairs = parse_tripinfo(tripinfo)
    result.delay_s, result.vehicles, result.unfinished, result.undeparted = delay, n, unf, und
    result.delay_by_depart = pairs
    return result


def _drive(
    traci: Any,
    case: Case,
    controller: str,
    *,
    cfg: ControllerConfig,
    make_policy: PolicyFactory | None,
    result: RunResult,
    series_every_s: float,
    hires_csv: Path | None,
    check: Callable[[Intersection, SignalState, str], None] | None,
    stop: float,
) -> None:
    sims: list[tuple[Intersection, Supervisor, CameraView, SumoActuator]] = []
    if controller in ("sumo_actuated", "sumo_delay_based"):
        for inter in case.intersections:
            traci.trafficlight.setProgram(inter.tls_id, f"simpang_{controller.removeprefix('sumo_')}")
    elif controller in SIMPANG_CONTROLLERS:
        if make_policy is None:
            raise ScenarioError(f"controller {controller!r} needs a policy factory")
        epoch = time.time()
        for inter in case.intersections:
            policy, fallback = make_policy(inter)
            # The camera feed is healthy from the start in simulation: skip the warm-up fallback.
            cfg_run = cfg.model_copy(update={"recover_after_s": 0.0})
            sup = Supervisor(inter.signal, cfg_run, policy, fallback, now=case.begin, epoch=epoch)
            sims.append((inter, sup, CameraView(traci, inter), SumoActuator(traci, inter)))
    lanes = sorted({lane for inter in case.intersections for ls in inter.groups.values() for lane in ls})
    next_sample = case.begin
    timings: list[float] = []
    t = float(traci.simulation.getTime())
    while t < stop:
        for inter, sup, cam, act in sims:
            obs = cam.observe(t)
            # CPU time of this thread, so that other processes on the machine do not count.
            c0 = time.thread_time()
            sup.observe(obs)
            state = sup.step(t)
            timings.append(time.thread_time() - c0)
            act.apply(state)
            if state.fallback:
                result.fallback_steps += 1
            if check is not None:
                check(inter, state, traci.trafficlight.getRedYellowGreenState(inter.tls_id))
        if t >= next_sample:
            result.series_t.append(t)
            result.series_queue.append(float(sum(traci.lane.getLastStepHaltingNumber(ln) for ln in lanes)))
            next_sample += series_every_s
        traci.simulationStep()
        t = float(traci.simulation.getTime())
    if timings:
        ms = sorted(x * 1000 for x in timings)
        result.decision_ms_mean = sum(ms) / len(ms)
        result.decision_ms_p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        result.decisions = len(ms)
    if sims:
        from controller.hires import to_csv  # noqa: PLC0415 (only when asked for)

        events = []
        for inter, sup, _cam, _act in sims:
            evs = sup.envelope.log.drain()
            result.hires_events += len(evs)
            if hires_csv is not None:
                events.append(to_csv(evs, signal_id=inter.tls_id))
        if hires_csv is not None:
            hires_csv.parent.mkdir(parents=True, exist_ok=True)
            hires_csv.write_text(events[0] + "".join(e.split("\n", 1)[1] for e in events[1:]))


def intersections_from_net(
    net_file: Path,
    min_green: float = 7.0,
    max_green: float = 60.0,
    yellow: float = 3.0,
    red_clearance: float = 0.0,
) -> tuple[Intersection, ...]:
    """One :class:`Intersection` per TLS of ``net_file``, derived from its first ``tlLogic``.

    Each distinct green state (a phase without yellow that gives some link right of way) becomes
    a phase and its own stage, in program order; every pair conflicts. Detection groups are the
    incoming lanes (one camera zone per lane). A link the program never shows red, only green,
    yellow or ``s`` (go on red after stopping: grid4x4's right turns), keeps that rule
    (:attr:`Intersection.stop_go`): the net's own rule, which RESCO's runs keep too.
    """
    root = ET.parse(net_file).getroot()
    controlled: dict[str, dict[int, str]] = {}
    for con in root.iter("connection"):
        tl = con.get("tl")
        if tl is None:
            continue
        lane = f"{con.get('from')}_{con.get('fromLane')}"
        controlled.setdefault(tl, {})[int(con.get("linkIndex", "-1"))] = lane
    out = []
    seen: set[str] = set()
    for logic in root.iter("tlLogic"):
        tls = logic.get("id", "")
        if tls in seen:
            continue
        seen.add(tls)
        greens: list[str] = []
        states = [ph.get("state", "") for ph in logic.iter("phase")]
        stop_go = frozenset(j for j in range(min(map(len, states), default=0))
                            if any(st[j] == "s" for st in states) and all(st[j] in "GgyYs" for st in states))
        for state in states:
            if "y" in state.lower() or not any(c in "Gg" for c in state):
                continue
            st = "".join(c if c in "Ggr" else "r" for c in state)
            if st not in greens:
                greens.append(st)
        if len(greens) < 2:
            log.info("TLS %s has fewer than two green phases; left to SUMO", tls)
            continue
        greens = greens[:16]
        link_lane = controlled.get(tls, {})
        phases = []
        links: dict[int, str] = {}
        groups: dict[str, tuple[str, ...]] = {}
        for i, st in enumerate(greens, start=1):
            served = sorted({link_lane[j] for j, c in enumerate(st) if c in "Gg" and j in link_lane})
            for lane in served:
                groups[lane] = (lane,)
            phases.append(
                PhaseConfig(
                    id=i, name=f"{tls} green {i}",
                    movements=[f"{link_lane[j]}_link{j}" if j in link_lane else f"link{j}"
                               for j, c in enumerate(st) if c in "Gg"],
                    approaches=served,
                    timings=PhaseTimings(min_green=min_green, max_green=max_green, yellow=yellow,
                                         red_clearance=red_clearance, passage=2.0),
                )
            )
            links[i] = st
        ids = [p.id for p in phases]
        conflicts = [(a, b) for a in ids for b in ids if a < b]
        signal = SignalConfig(phases=phases, conflicts=conflicts, stages=[[i] for i in ids])
        out.append(Intersection(tls_id=tls, signal=signal, links=links, groups=groups, stop_go=stop_go))
    return tuple(out)
