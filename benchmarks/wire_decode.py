"""Decode cost of one wire frame at central: pydantic schema vs the msgspec fast path, GC on and off.

Central validates every frame it stores (:mod:`edge.wirefast` for aggregates and events, falling
back to :mod:`edge.messages` for the rest). This measures messages/s for a batch of realistic
aggregate frames (the ``simpang central bench`` sample, about 500 bytes) decoded into a list, as
ingest does, with the cyclic garbage collector running and held (ingest holds it for a batch).
The bare ``json.loads`` rate is printed alongside: the fast path validates for less than that.

Run: ``python -m benchmarks.wire_decode [--messages 20000]``; writes ``benchmarks/results/wire_decode.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from central.bench import encode_sample
from edge.hostinfo import machine
from edge.messages import decode
from edge.wirefast import decode_fast

RESULTS = Path(__file__).resolve().parent / "results"


def rate(fn: Callable[[bytes], Any], frames: list[bytes], gc_on: bool, repeats: int = 3) -> float:
    """Best of ``repeats``: frames/s for decoding all ``frames`` into one list."""
    best = 0.0
    for _ in range(repeats):
        if gc_on:
            gc.enable()
        else:
            gc.disable()
        try:
            t0 = time.perf_counter()
            out = [fn(f) for f in frames]
            elapsed = time.perf_counter() - t0
        finally:
            gc.enable()
        del out
        best = max(best, len(frames) / elapsed)
    return best


def main() -> None:
    """Measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="frames per batch (default 20000)")
    args = parser.parse_args()
    frames = [encode_sample() for _ in range(args.messages)]
    figures: dict[str, float] = {}
    for name, fn in (("json_loads", json.loads), ("pydantic", decode), ("msgspec_fast_path", decode_fast)):
        for gc_on in (True, False):
            key = f"{name}_{'gc_on' if gc_on else 'gc_held'}_per_s"
            figures[key] = round(rate(fn, frames, gc_on))
            print(f"{name:18s} GC {'on  ' if gc_on else 'held'}: {figures[key]:>9,} frames/s")
    report = {"benchmark": "wire_decode", "frame_bytes": len(frames[0]), "messages": args.messages, **figures, "machine": machine()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "wire_decode.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
