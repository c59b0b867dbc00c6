"""``simpang demo``: the closed-loop demo (see :mod:`edge.demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.commands.common import Subparsers


def add_parser(sub: Subparsers) -> None:
    """Add ``demo``."""
    p = sub.add_parser(
        "demo",
        help="run the whole system on the digital twin and print a summary",
        description="Starts central, an edge runtime watching the digital-twin camera with the default model and "
        "the adaptive controller driving SUMO, prints the dashboard URL, and ends with a summary.",
    )
    p.add_argument("--duration", type=float, default=120.0, help="seconds to run the edge (default 120)")
    p.add_argument("--headless", action="store_true",
                   help="run unattended and exit after the summary (without it the dashboard stays up until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.add_argument("--seed", type=int, default=7, help="twin scenario seed (default 7, unseen in training)")
    p.add_argument("--lighting", default="dusk", help="twin lighting preset (default dusk)")
    p.add_argument("--demand", type=float, default=1.0, help="demand multiplier (default 1.0)")
    p.add_argument("--pace", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    p.add_argument("--port", type=int, default=8080, help="dashboard port (default 8080; another free one if taken)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="work folder (default out/demo)")
    p.add_argument("--no-baselines", action="store_true", help="skip the fixed-time and ideal-detector comparison runs")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from edge.demo import DemoOptions, print_summary, run_demo, summary_json  # noqa: PLC0415 - heavy

    if args.duration <= 0 or args.pace <= 0:
        print("simpang: error: --duration and --pace must be positive", file=sys.stderr)
        return 2
    opts = DemoOptions(duration_s=args.duration, headless=args.headless, seed=args.seed, lighting=args.lighting,
                       demand=args.demand, pace=args.pace, http_port=args.port, out_dir=args.out,
                       baselines=not args.no_baselines)
    run_demo(opts, present=(lambda s: print(summary_json(s), flush=True)) if args.json else print_summary)
    return 0
