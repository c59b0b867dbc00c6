"""Benchmark: vision counts on held-out twin video against SUMO's ground truth.

The full edge chain runs on twin frames (the committed default model through Simpang's
detector, the tracker, the site's counting lines and movements from
``edge/sites/twin_fourleg.yaml``), on traffic none of the training data saw: a new seed, the
``afternoon`` light (never in training) and a heavier demand than any training episode.

Truth is the twin's stop-bar crossing per movement during the measured window. After the
window every signal is held red (the twin's closed loop) while the junction drains, so the
vehicles already past the stop bars reach their exit lines and no new ones enter: the vision
movement counts and the truth then cover the same vehicles.

Run: ``python -m benchmarks.twin_counts [--minutes 10] [--source twin:...]``; writes
``benchmarks/results/twin_counts.json``. Target (issue 6): count error per movement <= 5 %.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.twin_render import RESULTS, machine
from edge.config_loader import load_site, resolve_path
from edge.measure import SiteMeasures
from edge.track import Tracker
from edge.twin.source import TwinSource, open_twin
from models.detector import Detector

SITE = Path(__file__).resolve().parent.parent / "edge" / "sites" / "twin_fourleg.yaml"
HELD_OUT = "twin:fourleg?seed=101&lighting=afternoon&demand=1.3"


def run(minutes: float, source: str, drain_s: float = 30.0) -> dict[str, Any]:
    """Run the chain for ``minutes`` of simulated time plus the drain; return the comparison."""
    site = load_site(SITE)
    cam = site.cameras[0]
    detector = Detector.load(resolve_path(SITE, site.model.path), site.model)
    tracker = Tracker(site.tracker, fps=cam.fps or 10.0)
    measures = SiteMeasures(site, cam.id)
    frames = 0
    t0 = time.perf_counter()
    det_s = 0.0
    src: TwinSource = open_twin(source, fps=cam.fps, frame_size=cam.frame_size)
    try:
        window = round(minutes * 60.0 * src.fps)
        drain = round(drain_s * src.fps)
        truth_at_window: dict[str, dict[str, int]] = {}
        for k in range(window + drain):
            if k == window:
                truth_at_window = {m: dict(per) for m, per in src.counter.counts.items()}
                tls = src.world.traci.trafficlight
                n_links = len(tls.getRedYellowGreenState(src.world.tls_id))
                tls.setRedYellowGreenState(src.world.tls_id, "r" * n_links)
            frame = src.read()
            if frame is None:
                break
            d0 = time.perf_counter()
            dets = detector.detect(frame.image)
            det_s += time.perf_counter() - d0
            measures.update(tracker.update(dets, frame.stamp), frame.stamp)
            frames += 1
    finally:
        src.close()
    vision = measures.totals().movements
    rows = {}
    worst = 0.0
    for mid in sorted(set(truth_at_window) | set(vision)):
        t = sum(truth_at_window.get(mid, {}).values())
        v = sum(vision.get(mid, {}).values())
        err = abs(v - t) / t if t else (0.0 if v == 0 else 1.0)
        worst = max(worst, err) if t >= 20 else worst
        rows[mid] = {"truth": t, "vision": v, "error": round(err, 4)}
    total_t = sum(r["truth"] for r in rows.values())
    total_v = sum(r["vision"] for r in rows.values())
    return {
        "benchmark": "twin_counts",
        "source": source,
        "model": site.model.path,
        "simulated_minutes": minutes,
        "frames": frames,
        "wall_s": round(time.perf_counter() - t0, 1),
        "detector_ms_per_frame": round(1000.0 * det_s / max(frames, 1), 1),
        "movements": rows,
        "total": {"truth": total_t, "vision": total_v, "error": round(abs(total_v - total_t) / max(total_t, 1), 4)},
        "worst_movement_error_min20": round(worst, 4),
        "target_error": 0.05,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    """Measure and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes measured (default 10)")
    parser.add_argument("--source", default=HELD_OUT, help=f"twin URI (default {HELD_OUT})")
    args = parser.parse_args()
    result = run(args.minutes, args.source)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "twin_counts.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"vision vs truth on {args.source}, {args.minutes:g} simulated minutes ({result['frames']} frames):")
    for mid, r in result["movements"].items():
        print(f"  {mid:15s} truth {r['truth']:5d}  vision {r['vision']:5d}  error {100 * r['error']:6.1f} %")
    tot = result["total"]
    print(f"  {'all':15s} truth {tot['truth']:5d}  vision {tot['vision']:5d}  error {100 * tot['error']:6.1f} %")
    print(f"worst movement error (movements with >= 20 vehicles): {100 * result['worst_movement_error_min20']:.1f} %")


if __name__ == "__main__":
    main()
