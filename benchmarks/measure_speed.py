"""Micro-benchmark: per-frame cost of tracking and traffic measures at 50 and 200 objects.

A synthetic four-leg junction (stop lines, loop zones, queue zones, exits, twelve turning
movements, a ground calibration) is filled with a constant number of vehicles (mostly
motorcycles, as in Indonesian traffic) driving along straight lanes, some of them queued, seen
through a detector that jitters boxes by a pixel or two, misses 3% of them and scores them
between 0.3 and 0.95. Each frame is timed through :class:`edge.track.Tracker` and
:class:`edge.measure.SiteMeasures` separately (CPU time of this process, so that other work on a
shared machine does not inflate the figures; wall time is reported too).

Run: ``python -m benchmarks.measure_speed [--frames N] [--objects 50 200]``; writes
``benchmarks/results/measure_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from edge.clock import Stamp
from edge.config import SiteConfig
from edge.config_loader import parse_site
from edge.measure import SiteMeasures
from edge.track import Tracker
from models.classes import VehicleClass
from models.detections import Detections

RESULTS = Path(__file__).resolve().parent / "results"
FPS = 25.0
W, H = 1920, 1080

SITE = """
site_id: bench-junction
cameras: [{id: cam, source: synthetic, frame_size: [1920, 1080], fps: 25}]
model: {path: none.onnx}
lines:
  - {id: n_stop, camera: cam, points: [[700, 380], [960, 380]]}
  - {id: s_stop, camera: cam, points: [[1220, 700], [960, 700]]}
  - {id: w_stop, camera: cam, points: [[640, 700], [640, 540]]}
  - {id: e_stop, camera: cam, points: [[1280, 380], [1280, 540]]}
  - {id: n_exit, camera: cam, points: [[1220, 380], [960, 380]]}
  - {id: s_exit, camera: cam, points: [[700, 700], [960, 700]]}
  - {id: w_exit, camera: cam, points: [[640, 380], [640, 540]]}
  - {id: e_exit, camera: cam, points: [[1280, 700], [1280, 540]]}
approaches:
  - {id: north, camera: cam, stop_line: n_stop, zone: [[700, 320], [960, 320], [960, 380], [700, 380]],
     queue_zone: [[700, 0], [960, 0], [960, 380], [700, 380]]}
  - {id: south, camera: cam, stop_line: s_stop, zone: [[960, 700], [1220, 700], [1220, 760], [960, 760]],
     queue_zone: [[960, 700], [1220, 700], [1220, 1080], [960, 1080]], opposed: true}
  - {id: west, camera: cam, stop_line: w_stop, zone: [[580, 540], [640, 540], [640, 700], [580, 700]],
     queue_zone: [[0, 540], [640, 540], [640, 700], [0, 700]]}
  - {id: east, camera: cam, stop_line: e_stop, zone: [[1280, 380], [1340, 380], [1340, 540], [1280, 540]],
     queue_zone: [[1280, 380], [1920, 380], [1920, 540], [1280, 540]], opposed: true}
exits:
  - {id: n_out, line: n_exit}
  - {id: s_out, line: s_exit}
  - {id: w_out, line: w_exit}
  - {id: e_out, line: e_exit}
movements:
%s
calibration:
  - camera: cam
    image_points: [[0, 0], [1920, 0], [1920, 1080], [0, 1080]]
    ground_points: [[0, 0], [96, 0], [96, 54], [0, 54]]
"""

_APPROACHES = ("north", "south", "west", "east")
_EXITS = ("n_out", "s_out", "w_out", "e_out")


def bench_site() -> SiteConfig:
    """The synthetic junction: four approaches, four exits, every movement between them."""
    moves = "\n".join(
        f"  - {{id: {a}_{e}, approach: {a}, exit: {e}}}"
        for a in _APPROACHES
        for e in _EXITS
        if not e.startswith(a[0])
    )
    return parse_site(SITE % moves)


class Traffic:
    """A constant number of vehicles driving along straight lanes through the frame."""

    # (start x, start y, dx, dy) per lane direction, in px per frame at speed 1.
    LANES = (
        (830.0, 0.0, 0.0, 1.0),
        (1090.0, 1080.0, 0.0, -1.0),
        (0.0, 620.0, 1.0, 0.0),
        (1920.0, 460.0, -1.0, 0.0),
    )

    def __init__(self, objects: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = objects
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.size = np.zeros((0, 2))
        self.cls = np.zeros(0, np.int64)
        for _ in range(200):  # spread the initial vehicles over the frame
            self.step()

    def _spawn(self, k: int) -> None:
        lane = self.rng.integers(0, len(self.LANES), k)
        spec = np.array(self.LANES)[lane]
        offset = self.rng.uniform(-110, 110, k)
        along = self.rng.uniform(0, 900, k)
        pos = spec[:, :2] + spec[:, 2:] * along[:, None] + spec[:, 2:][:, ::-1] * offset[:, None]
        speed = np.where(self.rng.random(k) < 0.25, 0.0, self.rng.uniform(2.0, 12.0, k))  # a quarter queued
        moto = self.rng.random(k) < 0.6
        heavy = ~moto & (self.rng.random(k) < 0.15)
        cls = np.where(moto, VehicleClass.MOTORCYCLE, np.where(heavy, VehicleClass.TRUCK, VehicleClass.CAR))
        size = np.where(moto[:, None], [22.0, 40.0], np.where(heavy[:, None], [70.0, 110.0], [50.0, 70.0]))
        self.pos = np.concatenate([self.pos, pos])
        self.vel = np.concatenate([self.vel, spec[:, 2:] * speed[:, None]])
        self.size = np.concatenate([self.size, size])
        self.cls = np.concatenate([self.cls, cls.astype(np.int64)])

    def step(self) -> None:
        self.pos = self.pos + self.vel
        # Queued vehicles move off now and then, as a green would release them.
        start = (np.hypot(*self.vel.T) == 0) & (self.rng.random(len(self.vel)) < 0.01)
        if start.any():
            self.vel[start] = self._lane_direction(self.pos[start]) * 6.0
        inside = (self.pos[:, 0] > -50) & (self.pos[:, 0] < W + 50) & (self.pos[:, 1] > -50) & (self.pos[:, 1] < H + 50)
        self.pos, self.vel, self.size, self.cls = self.pos[inside], self.vel[inside], self.size[inside], self.cls[inside]
        if len(self.pos) < self.n:
            self._spawn(self.n - len(self.pos))

    def _lane_direction(self, pos: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
        lanes = np.array(self.LANES)
        # The lane whose centre line is nearest decides the direction.
        d_vertical = np.abs(pos[:, 0:1] - lanes[None, :2, 0])
        d_horizontal = np.abs(pos[:, 1:2] - lanes[None, 2:, 1])
        dist = np.concatenate([d_vertical, d_horizontal], axis=1)
        return np.asarray(lanes[dist.argmin(axis=1), 2:], dtype=np.float64)

    def detections(self) -> Detections:
        """What a detector would report this frame: jittered, 3% missed, scored 0.3..0.95."""
        seen = self.rng.random(len(self.pos)) > 0.03
        pos, size, cls = self.pos[seen], self.size[seen], self.cls[seen]
        jitter = self.rng.normal(0.0, 1.2, (len(pos), 4))
        half = size / 2
        xyxy = np.concatenate([pos - half, pos + half], axis=1) + jitter
        xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1)
        return Detections(
            xyxy=xyxy.astype(np.float32),
            confidence=self.rng.uniform(0.3, 0.95, len(pos)).astype(np.float32),
            class_id=cls,
        )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor()
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
        "load_average_1m_at_start": os.getloadavg()[0],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {"mean": float(a.mean()), "median": float(np.median(a)), "p95": float(np.percentile(a, 95))}


def run(objects: int, frames: int, warmup: int = 100) -> dict[str, Any]:
    """Time tracker and measures on ``frames`` frames of traffic with ``objects`` vehicles."""
    site = bench_site()
    traffic = Traffic(objects)
    tracker = Tracker(site.tracker, FPS)
    measures = SiteMeasures(site, "cam")
    track_cpu: list[float] = []
    measure_cpu: list[float] = []
    total_wall: list[float] = []
    tracks_out = []
    for i in range(warmup + frames):
        det = traffic.detections()
        traffic.step()
        stamp = Stamp(i / FPS, 1_700_000_000.0 + i / FPS)
        w0 = time.perf_counter()
        c0 = time.process_time()
        tracks = tracker.update(det, stamp)
        c1 = time.process_time()
        measures.update(tracks, stamp)
        if i % 25 == 0:
            measures.live()
            measures.flush(stamp)
        c2 = time.process_time()
        w1 = time.perf_counter()
        if i >= warmup:
            track_cpu.append((c1 - c0) * 1e3)
            measure_cpu.append((c2 - c1) * 1e3)
            total_wall.append((w1 - w0) * 1e3)
            tracks_out.append(len(tracks))
    totals = measures.totals()
    return {
        "objects": objects,
        "frames": frames,
        "confirmed_tracks_per_frame": float(np.mean(tracks_out)),
        "tracker_cpu_ms": _stats(track_cpu),
        "measures_cpu_ms": _stats(measure_cpu),
        "total_cpu_ms_mean": float(np.mean(track_cpu) + np.mean(measure_cpu)),
        "total_wall_ms": _stats(total_wall),
        "tracks_held_at_end": len(tracker),
        "stop_line_entries": sum(totals.line_total(f"{a[0]}_stop", "in") for a in _APPROACHES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="timed frames per run (after 100 warm-up frames)")
    parser.add_argument("--objects", type=int, nargs="+", default=[50, 200], help="vehicles in view")
    args = parser.parse_args()
    info = machine()
    results = [run(n, args.frames) for n in args.objects]
    print(f"tracker + measures per frame ({info['cpu']}, {info['cores']} cores, load {info['load_average_1m_at_start']:.1f})")
    print(f"{'objects':>8} {'tracks':>7} {'tracker ms':>11} {'measures ms':>12} {'total ms':>9} {'p95 ms':>7} {'wall ms':>8}")
    for r in results:
        print(
            f"{r['objects']:>8} {r['confirmed_tracks_per_frame']:>7.0f} {r['tracker_cpu_ms']['mean']:>11.2f} "
            f"{r['measures_cpu_ms']['mean']:>12.2f} {r['total_cpu_ms_mean']:>9.2f} "
            f"{r['tracker_cpu_ms']['p95'] + r['measures_cpu_ms']['p95']:>7.2f} {r['total_wall_ms']['mean']:>8.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "measure_speed.json"
    out.write_text(json.dumps({"benchmark": "measure_speed", "machine": info, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
