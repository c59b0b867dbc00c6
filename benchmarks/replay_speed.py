"""Speed and stride: model-only vs full-pipeline throughput, per-stage ms, and count error per stride.

Runs ``simpang replay``'s pipeline on the real highway clip (YOLOX-nano by default) once per
detection stride k = 1..4. Model-only throughput is measured in the same run on the same frames
and threads (see :mod:`edge.replay`). Targets: pipeline >= 90% of model-only (at k = 1), and some
k reaching >= 25 fps with the count within 8% of the hand count.

    python -m benchmarks.replay_speed [--strides 1 2 3 4] [--threads 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.vision_common import CLIP, SITE, TARGET_ERROR, count_errors, need, write_result
from edge.replay import ReplayOptions, run_replay

REALTIME_FPS = 25.0


def main() -> None:
    """Run the stride sweep and write ``benchmarks/results/replay_speed.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", type=Path, default=None, help="model file (default: the site's YOLOX-nano)")
    ap.add_argument("--name", default="replay_speed")
    args = ap.parse_args()
    need(CLIP)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.strides:
            opts = ReplayOptions(
                video=CLIP, site_path=SITE, model=args.model, out_dir=Path(tmp) / f"k{k}", stride=k, threads=args.threads
            )
            s = run_replay(opts).summary
            errors = count_errors(s)
            t = s["throughput"]
            runs.append({"stride": k, "throughput": t, "stage_ms": s["stage_ms"], "counts": errors, "model": s["model"]})
            print(
                f"k={k}: pipeline {t['pipeline_fps']:.1f} fps, model-only {t['model_only_fps']:.1f} fps "
                f"(pipeline/(k x model) {t['pipeline_vs_model']:.2f}); "
                f"left {errors['left']['counted']}/{errors['left']['hand']} ({errors['left']['error']:+.1%}), "
                f"right {errors['right']['counted']}/{errors['right']['hand']} ({errors['right']['error']:+.1%})"
            )
            print(
                f"      CPU ms per frame: pipeline {t['pipeline_cpu_ms_per_frame']}, "
                f"model only {t['model_only_cpu_ms_per_frame']} (per detected frame)"
            )
            print("      ms: " + ", ".join(f"{a} {b}" for a, b in s["stage_ms"].items()))
    k1 = next((r for r in runs if r["stride"] == 1), None)
    ok_k = [r["stride"] for r in runs if r["throughput"]["pipeline_fps"] >= REALTIME_FPS and r["counts"]["within_target"]]
    verdict = {
        "pipeline_vs_model_k1": None if k1 is None else k1["throughput"]["pipeline_vs_model"],
        "pipeline_target_met": None if k1 is None else k1["throughput"]["pipeline_vs_model"] >= 0.9,
        "strides_realtime_and_accurate": ok_k,
        "realtime_target_met": bool(ok_k),
        "count_error_target": TARGET_ERROR,
    }
    print(f"verdict: {verdict}")
    path = write_result(args.name, {"clip": str(CLIP.name), "threads": args.threads, "runs": runs, "verdict": verdict})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
