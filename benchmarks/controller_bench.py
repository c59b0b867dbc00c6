"""SUMO delay benchmark of every controller (median of 3 seeds), as ``simpang controller bench``.

Run: ``nice -n 10 python -m benchmarks.controller_bench [--scenario NAME ...] [bench options]``;
with no arguments it runs the four-leg scenario with all controllers and 3 seeds. Writes
``benchmarks/results/controller_bench_<scenario>.json`` (with a machine description) and prints
the table. Targets: four-leg simpang <= 0.75 x tuned Webster, <= 0.85 x SUMO actuated, below
max-pressure; RESCO cologne1 27.9, cologne8 21.8, ingolstadt1 22.2, grid4x4 34.1 s.
"""

from __future__ import annotations

import sys

from edge.commands import main as simpang_main

RESULTS = "benchmarks/results"


def main(argv: list[str]) -> int:
    """Run ``simpang controller bench`` with the benchmark's defaults."""
    args = argv or ["--scenario", "fourleg", "--seeds", "3"]
    if "--results" not in args:
        args = [*args, "--results", RESULTS]
    return simpang_main(["controller", "bench", *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
