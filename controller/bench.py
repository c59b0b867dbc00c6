"""Benchmark runner behind ``simpang controller bench``: controllers x scenarios x seeds in SUMO.

Simpang's controllers and SUMO's own programs run on the same scenario files and seeds. The
fixed-time baseline is *tuned* Webster: Webster's plan from the scenario's PKJI design flows, with
its cycle scaled by the factor (from :data:`WEBSTER_SCALES`) that gives the lowest delay on a
separate tuning seed, so the baseline is not handicapped by PKJI's motorcycle equivalents (which
assume motorcycles filtering side by side) against SUMO's lane-following motorcycles. Where a
scenario has no design flows (the RESCO nets), ``fixed`` is SUMO's static program of the net
itself, which is RESCO's fixed-time baseline; and the adaptive controllers fall back to an equal
split of a 90 s cycle.

Results: the median over seeds is the headline figure (as in the targets); every seed's delay is
kept in the JSON.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from controller.actuated import Actuated
from controller.config import ControllerConfig
from controller.errors import ScenarioError
from controller.fixed import FixedTime, equal_split, webster
from controller.max_pressure import MaxPressure
from controller.policy import Policy
from controller.scenarios.catalog import load_case
from controller.simpang import SimpangAdaptive
from controller.sumo import SIMPANG_CONTROLLERS, SUMO_CONTROLLERS, Case, Intersection, RunResult, run

log = logging.getLogger(__name__)

ALL_CONTROLLERS = (*SIMPANG_CONTROLLERS, *SUMO_CONTROLLERS)
WEBSTER_SCALES = (1.0, 1.5, 2.0, 2.5, 3.0)
TUNING_SEED = 1000


@dataclass
class BenchConfig:
    """What to run."""

    scenarios: list[str]
    controllers: list[str]
    seeds: int = 3
    duration_s: float | None = None
    demand_scale: float = 1.0
    camera_range_m: float = 75.0
    workdir: Path = Path("/tmp/simpang-bench")
    tune_webster: bool = True


@dataclass
class Summary:
    """Per scenario and controller: the delays of each seed and their median."""

    delays: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    decision_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    webster_scale: dict[str, float] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, scenario: str, controller: str) -> float:
        """Median delay over seeds."""
        return statistics.median(self.delays[scenario][controller])


def policy_factory(name: str, webster_scale: float, cfg: ControllerConfig) -> Callable[[Intersection], tuple[Policy, Policy]]:
    """Intersection -> (policy, fixed-time fallback) for a Simpang controller name."""

    def fixed_plan(inter: Intersection) -> FixedTime:
        if inter.design_flows:
            return webster(inter.signal, inter.design_flows, inter.saturation, cycle_scale=webster_scale)
        return equal_split(inter.signal, 90.0)

    def make(inter: Intersection) -> tuple[Policy, Policy]:
        plan = fixed_plan(inter)
        if name == "fixed":
            return plan, plan
        if name == "actuated":
            return Actuated(inter.signal), plan
        if name == "max_pressure":
            return MaxPressure(inter.signal), plan
        if name == "simpang":
            return SimpangAdaptive(inter.signal, camera_range_m=cfg.camera_range_m), plan
        raise ScenarioError(f"unknown Simpang controller {name!r}")

    return make


def run_one(case: Case, controller: str, seed: int, bc: BenchConfig, webster_scale: float, **kw: Any) -> RunResult:
    """One run; ``fixed`` on a case without design flows is SUMO's static program of the net."""
    cfg = ControllerConfig(camera_range_m=bc.camera_range_m)
    workdir = bc.workdir / case.name / f"s{seed}"
    if controller == "fixed" and not any(i.design_flows for i in case.intersections):
        res = run(case, "sumo_static", seed, workdir, config=cfg, **kw)
        res.controller = "fixed"
        return res
    factory = policy_factory(controller, webster_scale, cfg) if controller in SIMPANG_CONTROLLERS else None
    return run(case, controller, seed, workdir, make_policy=factory, config=cfg, **kw)


def tune_webster(scenario: str, bc: BenchConfig) -> float:
    """The Webster cycle scale with the lowest delay on the tuning seed (1.0 without design flows)."""
    case = load_case(scenario, TUNING_SEED, bc.workdir / "tuning", bc.duration_s, bc.demand_scale)
    if not any(i.design_flows for i in case.intersections):
        return 1.0
    best, best_delay = 1.0, float("inf")
    for scale in WEBSTER_SCALES:
        res = run_one(case, "fixed", TUNING_SEED, bc, scale)
        log.info("webster tuning %s: scale %.2f -> %.1f s", scenario, scale, res.delay_s)
        if res.delay_s < best_delay:
            best, best_delay = scale, res.delay_s
    return best


def bench(bc: BenchConfig, progress: Callable[[str], None] | None = None) -> Summary:
    """Run every controller on every scenario and seed (seeds 1..N)."""
    unknown = [c for c in bc.controllers if c not in ALL_CONTROLLERS]
    if unknown:
        raise ScenarioError(f"unknown controller(s) {', '.join(unknown)}; choose from {', '.join(ALL_CONTROLLERS)}")
    out = Summary()
    for scenario in bc.scenarios:
        scale = tune_webster(scenario, bc) if bc.tune_webster and "fixed" in bc.controllers else 1.0
        out.webster_scale[scenario] = scale
        out.delays[scenario] = {c: [] for c in bc.controllers}
        out.decision_ms[scenario] = {}
        for seed in range(1, bc.seeds + 1):
            case = load_case(scenario, seed, bc.workdir, bc.duration_s, bc.demand_scale)
            for controller in bc.controllers:
                res = run_one(case, controller, seed, bc, scale)
                out.delays[scenario][controller].append(res.delay_s)
                if res.decisions:
                    prev = out.decision_ms[scenario].get(controller, 0.0)
                    out.decision_ms[scenario][controller] = max(prev, res.decision_ms_mean)
                row = asdict(res)
                row.pop("delay_by_depart")
                out.runs.append(row)
                if progress is not None:
                    progress(f"{scenario} {controller} seed {seed}: {res.delay_s:.1f} s")
    return out


def machine() -> dict[str, Any]:
    """A short description of the machine, for result files."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover - not on every OS
        load = (float("nan"),) * 3
    sumo_version = "?"
    try:
        from importlib.metadata import version  # noqa: PLC0415

        sumo_version = version("eclipse-sumo")
    except ImportError:  # pragma: no cover
        pass
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sumo": sumo_version,
        "loadavg": load,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def to_json(summary: Summary, bc: BenchConfig) -> dict[str, Any]:
    """The summary as one JSON-ready object."""
    return {
        "metric": "RESCO average delay: mean of timeLoss + departDelay over all vehicles (s), median over seeds",
        "average_delay_s": {
            s: {c: summary.median(s, c) for c in ctl} for s, ctl in summary.delays.items()
        },
        "delays_by_seed": summary.delays,
        "decision_ms_mean": summary.decision_ms,
        "webster_cycle_scale": summary.webster_scale,
        "config": {
            "scenarios": bc.scenarios, "controllers": bc.controllers, "seeds": list(range(1, bc.seeds + 1)),
            "duration_s": bc.duration_s, "demand_scale": bc.demand_scale, "camera_range_m": bc.camera_range_m,
        },
        "machine": machine(),
        "runs": summary.runs,
    }


def table(summary: Summary) -> str:
    """A plain-text table of median delays (and the per-seed values)."""
    lines = [f"{'scenario':<12} {'controller':<17} {'median delay s':>14}  per seed"]
    for s, ctl in summary.delays.items():
        for c, ds in ctl.items():
            lines.append(f"{s:<12} {c:<17} {summary.median(s, c):>14.1f}  " + " ".join(f"{d:.1f}" for d in ds))
    return "\n".join(lines)


def write_results(doc: dict[str, Any], results_dir: Path, scenarios: Sequence[str]) -> Path:
    """Write the JSON document to ``results_dir/controller_bench_<scenarios>.json``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"controller_bench_{'_'.join(scenarios)}.json"
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return path


def plot(summary: Summary, bc: BenchConfig, out_dir: Path) -> list[Path]:
    """Queue and delay over time, seed 1, one figure per scenario (needs matplotlib)."""
    try:
        import matplotlib  # noqa: PLC0415 (bench extra only)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as err:
        raise ScenarioError("plots need matplotlib: pip install 'simpang[bench]'") from err
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for scenario in summary.delays:
        fig, (ax_q, ax_d) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
        for row in summary.runs:
            if row["scenario"] != scenario or row["seed"] != 1:
                continue
            ax_q.plot(row["series_t"], row["series_queue"], label=row["controller"])
        # Delay over time comes from re-reading each seed-1 run's tripinfo (kept in the workdir).
        for controller in summary.delays[scenario]:
            trip = _tripinfo_path(bc, scenario, controller)
            if trip is None:
                continue
            from controller.sumo import parse_tripinfo  # noqa: PLC0415

            pairs = sorted(p for p in parse_tripinfo(trip)[4] if p[0] >= 0)
            if not pairs:
                continue
            t0 = pairs[0][0]
            bins: dict[int, list[float]] = {}
            for dep, d in pairs:
                bins.setdefault(int((dep - t0) // 300), []).append(d)
            xs = [t0 + 300 * k + 150 for k in sorted(bins)]
            ax_d.plot(xs, [statistics.fmean(bins[k]) for k in sorted(bins)], label=controller)
        ax_q.set_ylabel("halting vehicles (all incoming lanes)")
        ax_d.set_ylabel("mean delay by departure (5 min), s")
        ax_d.set_xlabel("simulation time, s")
        ax_q.legend(fontsize=8)
        ax_q.set_title(f"{scenario}: seed 1")
        path = out_dir / f"controller_{scenario}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _tripinfo_path(bc: BenchConfig, scenario: str, controller: str) -> Path | None:
    name = "sumo_static" if controller == "fixed" and scenario != "fourleg" else controller
    path = bc.workdir / scenario / "s1" / f"tripinfo_{name}_1.xml"
    return path if path.exists() else None
