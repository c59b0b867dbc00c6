"""Benchmark: digital-twin rendering speed at 640x360 on one core (target: >= 100 frames/s).

Runs the four-leg scenario at its design demand to a busy moment, then times (1) rendering
alone (scene building, shadows, painter's-order boxes, ground truth, noise) for every lighting
preset and (2) the whole ``TwinSource.read`` (SUMO step, movement counting, rendering).
OpenCV and BLAS are pinned to one thread, and frames per second are given both per wall-clock
second and per CPU second of this process: on a shared machine the second is the per-core
figure (the first then depends on what else runs).

Run: ``python -m benchmarks.twin_render [--frames 300]``; writes ``benchmarks/results/twin_render.json``.
"""

# The thread variables must be set before NumPy and OpenCV load, hence the late imports.
# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """A short description of where the numbers were taken."""
    import cv2
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "platform": platform.platform(),
    }


def _rates(frames: int, t0: float, c0: float) -> dict[str, float]:
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"wall": round(frames / wall, 1), "cpu": round(frames / max(cpu, 1e-9), 1)}


def main() -> None:
    """Measure and report."""
    import cv2

    from edge.twin.render import LIGHTING, Renderer
    from edge.twin.scene import build_scene
    from edge.twin.source import TwinOptions, TwinSource

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames timed per measurement")
    parser.add_argument("--warmup-s", type=float, default=240.0, help="simulated seconds before timing")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    rows: dict[str, Any] = {}
    with TwinSource(TwinOptions(seed=7, demand=1.0)) as src:
        for _ in range(round(args.warmup_s * src.fps)):
            src.step()
        vehicles = src.world.vehicles()
        scene = build_scene(vehicles)
        road = src.world.geometry(src.world.centre)
        for name, light in LIGHTING.items():
            r = Renderer(src.camera, road, light, seed=1)
            r.render(scene)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.frames):
                r.render(build_scene(vehicles))
            rows[f"render_{name}"] = _rates(args.frames, t0, c0)
        in_view = len(src.renderer.render(scene)[1])
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for _ in range(args.frames):
            if src.read() is None:
                break
            n += 1
        rows["read_step_count_render"] = _rates(n, t0, c0)
    result = {
        "benchmark": "twin_render",
        "size": [640, 360],
        "vehicles_in_network": len(vehicles),
        "vehicles_in_view": in_view,
        "frames_per_s": rows,
        "target_frames_per_s": 100,
        "threads": 1,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "twin_render.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"twin render 640x360, one thread, {len(vehicles)} vehicles in the network ({in_view} in view):")
    print(f"  {'':28s} {'per wall s':>11s} {'per CPU s':>10s}")
    for k, v in rows.items():
        print(f"  {k:28s} {v['wall']:11.1f} {v['cpu']:10.1f}")


if __name__ == "__main__":
    main()
