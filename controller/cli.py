"""``simpang controller ...``: benchmark controllers in SUMO and generate the four-leg scenario.

* ``simpang controller bench --scenario fourleg --controllers simpang,sumo_actuated --seeds 3``
  runs each controller on each seed with a progress bar and prints a table of median delays
  (``--json``: one JSON object on stdout instead); the full result goes to
  ``benchmarks/results/controller_bench_<scenario>.json``; ``--plot DIR`` draws queues and
  delays over time.
* ``simpang controller scenario --out DIR --seed 1`` writes the four-leg net, routes and
  ``.sumocfg`` (open it with ``sumo-gui -c``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from controller.errors import ScenarioError

_DEFAULT_CONTROLLERS = "fixed,actuated,max_pressure,simpang,sumo_static,sumo_actuated,sumo_delay_based"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``controller`` and its sub-commands."""
    p = sub.add_parser("controller", help="adaptive signal control: SUMO benchmarks and scenarios")
    cs = p.add_subparsers(title="controller commands", metavar="ACTION", required=True)
    b = cs.add_parser("bench", help="run controllers on SUMO scenarios and compare RESCO delay")
    b.add_argument("--scenario", action="append", required=True,
                   help="fourleg, cologne1, cologne8, ingolstadt1 or grid4x4 (repeat or comma-separate)")
    b.add_argument("--controllers", default=_DEFAULT_CONTROLLERS,
                   help=f"comma-separated controllers (default {_DEFAULT_CONTROLLERS})")
    b.add_argument("--seeds", type=int, default=3, help="number of seeds, 1..N (default 3)")
    b.add_argument("--duration", type=float, default=None, help="horizon in seconds (default: the scenario's)")
    b.add_argument("--demand-scale", type=float, default=1.0, help="four-leg demand multiplier (default 1.0)")
    b.add_argument("--camera-range", type=float, default=75.0, help="camera range in metres (default 75)")
    b.add_argument("--no-tune", action="store_true", help="use Webster's cycle as computed, without tuning its scale")
    b.add_argument("--workdir", type=Path, default=Path("/tmp/simpang-bench"), help="scratch directory for SUMO files")
    b.add_argument("--results", type=Path, default=Path("benchmarks/results"), help="where the JSON result goes")
    b.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    b.add_argument("--plot", type=Path, default=None, metavar="DIR", help="write queue/delay plots into DIR")
    b.set_defaults(handler=_bench)
    s = cs.add_parser("scenario", help="write the four-leg SUMO scenario (net, routes, sumocfg)")
    s.add_argument("--out", type=Path, required=True, help="output directory")
    s.add_argument("--seed", type=int, default=1, help="demand seed (default 1)")
    s.add_argument("--duration", type=float, default=3600.0, help="demand horizon in seconds (default 3600)")
    s.add_argument("--demand-scale", type=float, default=1.0, help="demand multiplier (default 1.0)")
    s.set_defaults(handler=_scenario)


def _bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from controller import bench  # noqa: PLC0415 (pulls in SUMO)

    scenarios = [s.strip() for arg in args.scenario for s in arg.split(",") if s.strip()]
    controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    if args.seeds < 1:
        raise ScenarioError(f"--seeds must be at least 1, got {args.seeds}")
    if args.duration is not None and args.duration <= 0:
        raise ScenarioError(f"--duration must be positive, got {args.duration}")
    bc = bench.BenchConfig(
        scenarios=scenarios, controllers=controllers, seeds=args.seeds, duration_s=args.duration,
        demand_scale=args.demand_scale, camera_range_m=args.camera_range, workdir=args.workdir,
        tune_webster=not args.no_tune,
    )
    total = len(scenarios) * len(controllers) * args.seeds
    with tqdm(total=total, unit="run", file=sys.stderr, desc="controller bench") as bar:
        def progress(msg: str) -> None:
            bar.set_postfix_str(msg)
            bar.update(1)

        summary = bench.bench(bc, progress)
    doc = bench.to_json(summary, bc)
    path = bench.write_results(doc, args.results, scenarios)
    if args.plot is not None:
        for p in bench.plot(summary, bc, args.plot):
            print(f"plot: {p}", file=sys.stderr)
    if args.json:
        slim = {k: v for k, v in doc.items() if k != "runs"}
        print(json.dumps(slim, default=str))
    else:
        print(bench.table(summary))
        print(f"results: {path}")
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from controller.scenarios import fourleg  # noqa: PLC0415

    sc = fourleg.build(args.out, seed=args.seed, duration_s=args.duration, demand_scale=args.demand_scale)
    print(f"{sc.sumocfg}")
    return 0
