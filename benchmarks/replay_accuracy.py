"""Count accuracy on the real highway clip against its hand count (36 vehicles each way, +-3).

Replays the whole clip through the edge pipeline with each model and compares the total count
per carriageway with the hand count; reports the per-class split too (COCO models split vans and
lorries between car and truck inconsistently, so the target is on totals). Target: within 8%.

    python -m benchmarks.replay_accuracy [--models yolox_nano.onnx yolov8n_coco_int8.onnx] [--stride 1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.vision_common import CLIP, DATA, SITE, count_errors, need, write_result
from edge.replay import ReplayOptions, run_replay


def main() -> None:
    """Run each model over the clip and write ``benchmarks/results/replay_accuracy.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["yolox_nano.onnx", "yolov8n_coco_int8.onnx"])
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="replay_accuracy")
    args = ap.parse_args()
    need(CLIP)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = need(DATA / name)
            opts = ReplayOptions(
                video=CLIP, site_path=SITE, model=model, out_dir=Path(tmp) / model.stem, stride=args.stride, threads=args.threads
            )
            s = run_replay(opts).summary
            errors = count_errors(s)
            results.append({"model": name, "family": s["model"]["family"], "stride": args.stride, "counts": errors,
                            "pipeline_fps": s["throughput"]["pipeline_fps"]})  # fmt: skip
            for side in ("left", "right"):
                e = errors[side]
                print(f"{name} {side}: {e['counted']} vs hand {e['hand']} ({e['error']:+.1%}) {e['by_class']}")
            print(f"{name}: within 8% on both carriageways: {errors['within_target']}")
    path = write_result(args.name, {"clip": CLIP.name, "stride": args.stride, "threads": args.threads, "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
