"""Ingest throughput end to end (edge publisher -> committed row) and ack latency; see central/bench.py.

Run: ``nice -n 10 python -m benchmarks.central_ingest [--db sqlite|postgresql://postgres@127.0.0.1:5432/postgres]``.
Prints the figures and writes ``benchmarks/results/central_ingest_<store>.json`` with a machine
description.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from central.bench import add_arguments, report

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description="Central ingest throughput, end to end, and ack latency.")
    add_arguments(p)
    report(p.parse_args(argv), save_dir=RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
