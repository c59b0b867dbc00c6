"""Closed software-in-the-loop runs on the digital twin: camera frames -> vision -> control -> SUMO.

One process, lock-step and deterministic: each simulation step the twin renders a camera frame,
the edge pipeline (detector, tracker, measures) turns it into live measures, the site's controller
decides behind its safety envelope, and the decision is applied to the signals the camera watches.
The same run can be fed five ways, on the same scenario, seed and SUMO settings:

* ``vision`` - what the edge box does: the controller sees only the camera pipeline's measures;
* ``boxes``  - as ``vision``, with the twin's exact boxes (of vehicles at least 30 % visible) in
  place of the model's detections: a perfect detector, the real tracker and measures. Vision
  against ``boxes`` is what the model costs; ``boxes`` against ``view`` what tracking and the
  measures cost;
* ``ideal``  - the same controller fed by SUMO's own lane-area detectors, limited to the camera's
  range (the best any camera could do);
* ``view``   - as ``ideal``, but each approach is seen only as far up as the site's camera really
  sees it (its queue zone, from the calibration): perfect detection on this camera's view. Vision
  against ``view`` is what detection and tracking cost; ``view`` against ``ideal`` is what the
  camera's placement costs;
* ``fixed``  - Webster's fixed-time plan from the scenario's design flows (the usual baseline).

Average delay is the RESCO metric (mean of timeLoss + departDelay over every vehicle, unfinished
and never-departed ones included). Vision counts per movement are compared with the twin's exact
ground truth.

Example:
    >>> result = run_loop(load_site(path), LoopOptions(feed="vision", seed=7, duration_s=600))  # doctest: +SKIP
    >>> result.delay_s, result.count_error()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from controller.config import ControllerConfig
from controller.observation import Observation
from controller.scenarios.catalog import fourleg_intersection
from controller.sumo import CameraView, Case, SumoActuator, camera_detectors, parse_tripinfo
from edge.clock import Stamp
from edge.config import SiteConfig
from edge.control import ControlStage
from edge.detect import DetectStage, load_detector
from edge.measure import SiteMeasures
from edge.track import Tracker
from edge.twin.source import TwinOptions, TwinSource

log = logging.getLogger(__name__)

Feed = Literal["vision", "boxes", "ideal", "view", "fixed"]

#: The ``boxes`` feed passes the twin's boxes of vehicles at least this visible (as a detector could find them).
MIN_VISIBILITY = 0.3

#: Seconds of simulated time between controller decisions (and live measures).
CONTROL_PERIOD_S = 1.0


@dataclass(frozen=True)
class LoopOptions:
    """One closed-loop run.

    Attributes:
        feed: Where the controller's measures come from (see the module docstring).
        seed: Scenario seed (demand, SUMO, scenery).
        lighting: Lighting preset of the twin camera.
        demand: Demand multiplier.
        duration_s: Simulated seconds to run (the demand profile is spread over this horizon).
        fps: Camera frames (simulation steps) per simulated second.
        site_dir: Folder the site file lives in (relative model paths).
        model_path: A model file overriding the site's.
        stride: Detector stride (default: the site camera's).
        algorithm: Controller algorithm overriding the site's (every feed but ``fixed``).
        width: Camera image width.
        height: Camera image height.
    """

    feed: Feed = "vision"
    seed: int = 0
    lighting: str = "day"
    demand: float = 1.0
    duration_s: float = 600.0
    fps: float = 5.0
    site_dir: Path = Path(".")
    model_path: Path | None = None
    stride: int | None = None
    algorithm: str | None = None
    width: int = 640
    height: int = 360
    until_s: float | None = None
    """Stop at this simulated time (default ``duration_s``), e.g. to match another run's length."""


@dataclass
class LoopResult:
    """What one closed-loop run measured.

    ``counts_truth`` holds the movements completed by the end (vehicles that reached their exit
    edge), which is what the camera can count; ``counts_entered`` the stop-bar crossings, which
    also hold the vehicles still inside the junction when the run stopped (a right-turner may
    wait there for a minute).
    """

    feed: str
    seed: int
    duration_s: float
    delay_s: float
    vehicles: int
    unfinished: int
    frames: int = 0
    wall_s: float = 0.0
    adaptive_share: float = 0.0
    signal_changes: int = 0
    counts_vision: dict[str, int] = field(default_factory=dict)
    counts_truth: dict[str, int] = field(default_factory=dict)
    counts_entered: dict[str, int] = field(default_factory=dict)

    def count_error(self) -> dict[str, float]:
        """Relative count error per movement (vision vs ground truth), for movements with traffic."""
        return {
            m: abs(self.counts_vision.get(m, 0) - n) / n for m, n in sorted(self.counts_truth.items()) if n > 0
        }


def _per_approach(by_group: Mapping[str, float], approaches: Iterable[str]) -> dict[str, float]:
    """Sum lane-group figures (``north``, ``north_right``) into their approach (``north``)."""
    out: dict[str, float] = {}
    for group, value in by_group.items():
        a = next((ap for ap in approaches if group == ap or group.startswith(ap + "_")), None)
        if a is not None:
            out[a] = out.get(a, 0.0) + value
    return out


def run_loop(site: SiteConfig, opts: LoopOptions, progress: Callable[[float], None] | None = None) -> LoopResult:
    """Run the twin with the controller in the loop; return delay, counts and timings."""
    if site.signal is None or site.controller is None:
        raise ValueError(f"site {site.site_id} has no signal/controller section to close the loop with")
    with tempfile.TemporaryDirectory(prefix="simpang-loop-") as tmp:
        work = Path(tmp)
        tripinfo = work / "tripinfo.xml"
        twin_opts = TwinOptions(seed=opts.seed, lighting=opts.lighting, fps=opts.fps, width=opts.width,
                                height=opts.height, demand=opts.demand, duration_s=opts.duration_s)
        # The scenario is built by the twin; its E2 detectors (ideal feed) need it first, so the
        # additional file is written lazily below and the twin gets only the tripinfo options.
        sumo_args: tuple[str, ...] = ("--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished", "true",
                     "--tripinfo-output.write-undeparted", "true")
        additional = work / "camera.add.xml"
        if opts.feed in ("ideal", "view"):
            sumo_args = (*sumo_args, "-a", str(additional))
            _write_ideal_detectors(additional, twin_opts, site)
        twin = TwinSource(twin_opts, sumo_args=sumo_args)
        try:
            result = _drive(site, opts, twin, progress)
        finally:
            twin.close()
        delay, vehicles, unfinished, _undeparted, _series = parse_tripinfo(tripinfo)
        result.delay_s, result.vehicles, result.unfinished = delay, vehicles, unfinished
        return result


def _write_ideal_detectors(path: Path, twin_opts: TwinOptions, site: SiteConfig) -> None:
    """The camera-range E2 detectors for the scenario the twin will build (same seed, same files)."""
    from controller.scenarios import fourleg  # noqa: PLC0415

    sc = fourleg.build(path.parent / "detectors", seed=twin_opts.seed, duration_s=twin_opts.duration_s,
                       demand_scale=twin_opts.demand)
    assert site.controller is not None
    assert site.signal is not None
    inter = dataclasses.replace(fourleg_intersection(sc), signal=site.signal, groups=dict(sc.approaches))
    case = Case(name="twin", net_file=sc.net_file, route_files=(sc.route_file,), begin=0.0,
                end=twin_opts.duration_s, intersections=(inter,))
    path.write_text(camera_detectors(case, site.controller.camera_range_m))


def _drive(site: SiteConfig, opts: LoopOptions, twin: TwinSource, progress: Callable[[float], None] | None) -> LoopResult:
    assert site.signal is not None
    assert site.controller is not None
    sc = twin.scenario
    harness_inter = fourleg_intersection(sc)
    inter = dataclasses.replace(harness_inter, signal=site.signal, groups=dict(sc.approaches))
    actuator = SumoActuator(twin.world.traci, inter)
    config = site.controller
    flows = sat = None
    if opts.feed == "fixed":
        config = ControllerConfig(**{**config.model_dump(), "algorithm": "fixed", "params": {}})
        flows = _per_approach(harness_inter.design_flows, sc.approaches)
        sat = _per_approach(harness_inter.saturation, sc.approaches)
    elif opts.algorithm is not None:
        config = ControllerConfig(**{**config.model_dump(), "algorithm": opts.algorithm, "params": {}})
    control = ControlStage(site, now=0.0, epoch=time.time(), config=config, flows=flows, saturation=sat)
    camera = site.cameras[0]
    vision = opts.feed in ("vision", "boxes")
    detect = tracker = measures = None
    if opts.feed == "vision":
        # A model given instead of the site's is decoded by what it says it is, not by the site.
        model_cfg = site.model if opts.model_path is None else site.model.model_copy(update={"family": "auto", "class_map": None})
        detector = load_detector(model_cfg, opts.site_dir, path=opts.model_path)
        detect = DetectStage(detector, stride=opts.stride or camera.detect_stride)
    if vision:
        tracker = Tracker(site.tracker, opts.fps)
        measures = SiteMeasures(site, camera.id)
    view = None
    if opts.feed in ("ideal", "view"):
        reach = SiteMeasures(site, camera.id).reach_m() if opts.feed == "view" else None
        view = CameraView(twin.world.traci, inter, reach=reach)
    t0 = time.monotonic()
    frames = adaptive_steps = steps = changes = 0
    next_control = 0.0
    last_key: object = None
    while True:
        if vision:
            frame = twin.read()
            if frame is None:
                break
            assert tracker is not None
            assert measures is not None
            sim_t = frame.stamp.mono - twin._t0.mono
            stamp = Stamp(sim_t, frame.stamp.wall)
            if detect is not None:
                detections = detect.update(frame)
            else:  # the boxes feed: the twin's exact boxes stand in for the model's
                detections = twin.truth.labelled(MIN_VISIBILITY, min_side_px=0.0).detections
            tracks = tracker.update(detections, stamp)
            measures.update(tracks, stamp)
        else:
            if not twin.step():
                break
            sim_t = twin.world.time_s
        frames += 1
        if sim_t + 1e-9 >= next_control:
            next_control += CONTROL_PERIOD_S
            if vision:
                assert measures is not None
                control.observe(sim_t, measures.live())
            elif view is not None:
                obs: Observation = view.observe(sim_t)
                control.supervisor.observe(obs)
            state = control.step(sim_t)
            steps += 1
            adaptive_steps += control.mode == "adaptive"
            key = (state.stage, state.target, tuple(sorted(state.lights.items())))
            if key != last_key:
                last_key = key
                changes += 1
                actuator.apply(state)
            control.take_events()
            if progress is not None:
                progress(sim_t)
        if sim_t >= (opts.until_s if opts.until_s is not None else opts.duration_s):
            break
    counts_vision: dict[str, int] = {}
    if measures is not None:
        counts_vision = {m: int(sum(by_cls.values())) for m, by_cls in measures.totals().movements.items()}
    return LoopResult(
        feed=opts.feed, seed=opts.seed, duration_s=opts.duration_s, delay_s=0.0, vehicles=0, unfinished=0,
        frames=frames, wall_s=time.monotonic() - t0, adaptive_share=adaptive_steps / max(steps, 1),
        signal_changes=changes, counts_vision=counts_vision, counts_truth=twin.counter.completed_totals(),
        counts_entered=twin.counter.totals(),
    )
