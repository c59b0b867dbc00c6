"""Decision cost per intersection: one supervisor step (policy + envelope) for each algorithm.

Feeds each algorithm a stream of camera observations with random queues, arrivals and departures
on the four-leg intersection (eight detection groups, four stages) and on the largest RESCO
intersection layout (per-lane groups; when sumo-rl is installed), and times ``Supervisor.step``
in CPU time of the calling thread (``time.thread_time``), so a busy machine does not inflate it. Target: under 2 ms per decision.

Run: ``python -m benchmarks.controller_decision [--steps N]``; writes
``benchmarks/results/controller_decision.json`` with a machine description.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from controller.bench import machine
from controller.config import ControllerConfig, SignalConfig
from controller.errors import ScenarioError
from controller.factory import build_supervisor
from controller.observation import ApproachObservation, Observation
from controller.policy import stage_groups
from controller.scenarios.fourleg import signal_config
from models.classes import VehicleClass

RESULTS = Path(__file__).resolve().parent / "results"
ALGORITHMS = ("fixed", "actuated", "max_pressure", "simpang")


def _layouts() -> dict[str, SignalConfig]:
    out = {"fourleg": signal_config(lane_groups=True)}
    try:
        from controller.scenarios.catalog import load_case  # noqa: PLC0415

        case = load_case("cologne8", 0, Path("/tmp/simpang-decision"))
    except ScenarioError as err:
        print(f"(no RESCO layout: {err})")
        return out
    big = max(case.intersections, key=lambda i: (len(i.signal.phases), len(i.groups)))
    out[f"cologne8:{big.tls_id}"] = big.signal
    return out


def measure(signal: SignalConfig, algorithm: str, steps: int, rng: random.Random) -> dict[str, float]:
    """Time ``steps`` supervisor steps; milliseconds per decision."""
    cfg = ControllerConfig.model_validate({"algorithm": algorithm, "recover_after_s": 0.0})
    sup = build_supervisor(signal, cfg, now=0.0, epoch=0.0)
    groups = sorted(frozenset().union(*stage_groups(signal)))
    queue = dict.fromkeys(groups, 0.0)
    samples = []
    for t in range(1, steps + 1):
        obs: dict[str, ApproachObservation] = {}
        for g in groups:
            queue[g] = max(0.0, min(25.0, queue[g] + rng.choice((-1, 0, 0, 1, 1))))
            arr = {VehicleClass.MOTORCYCLE: rng.randint(0, 2), VehicleClass.CAR: rng.randint(0, 1)}
            obs[g] = ApproachObservation(queue_veh=queue[g], queue_m=queue[g] * 4.5, occupancy=rng.random(),
                                         arrivals=arr, departures=rng.randint(0, 2))
        sup.observe(Observation(t=float(t), groups=obs))
        # CPU time of this thread: the cost of a decision, not the time other processes on a
        # shared machine happen to take from it.
        c0 = time.thread_time()
        sup.step(float(t))
        samples.append((time.thread_time() - c0) * 1000.0)
    samples.sort()
    return {
        "mean_ms": statistics.fmean(samples),
        "p50_ms": samples[len(samples) // 2],
        "p99_ms": samples[int(0.99 * len(samples))],
        "max_ms": samples[-1],
        "steps": float(steps),
    }


def main() -> None:
    """Run the benchmark and write its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5000)
    args = ap.parse_args()
    rng = random.Random(7)
    results: dict[str, Any] = {}
    for name, signal in _layouts().items():
        for algo in ALGORITHMS:
            r = measure(signal, algo, args.steps, rng)
            results[f"{name}/{algo}"] = r
            print(f"{name:<24} {algo:<13} mean {r['mean_ms']:.3f} ms  p50 {r['p50_ms']:.3f}  "
                  f"p99 {r['p99_ms']:.3f}  max {r['max_ms']:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "controller_decision.json"
    path.write_text(json.dumps({"target_ms": 2.0, "results": results, "machine": machine()}, indent=1) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
