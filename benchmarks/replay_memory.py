"""Memory: resident set size of a one-camera replay over the highway clip looped 10 times.

Samples RSS every 100 frames. Warm-up is the first pass over the clip (model arena, tracker and
measure tables, decoder buffers all reach their working size there); the target is that RSS after
warm-up never grows more than 5% above its value at the end of warm-up.

    python -m benchmarks.replay_memory [--loops 10] [--stride 3]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.vision_common import CLIP, SITE, need, write_result
from edge.clock import Stamp
from edge.config import SiteConfig
from edge.replay import MeasureStage, ReplayOptions, TrackStage, edge_stages, run_replay
from models.detections import Detections

TARGET_GROWTH = 0.05
EVERY = 100


def rss_mb() -> float:
    """Current resident set size in MiB (from /proc, so it can go down as well as up)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / (1 << 20)


class _SampledTracker:
    """The real tracker, sampling RSS every ``EVERY`` frames as a side effect."""

    def __init__(self, inner: TrackStage, samples: list[tuple[int, float]]) -> None:
        self._inner = inner
        self._samples = samples
        self._n = 0

    def update(self, detections: Detections | None, stamp: Stamp) -> Detections:
        if self._n % EVERY == 0:
            self._samples.append((self._n, rss_mb()))
        self._n += 1
        return self._inner.update(detections, stamp)


def main() -> None:
    """Replay the looped clip and write ``benchmarks/results/replay_memory.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loops", type=int, default=10)
    ap.add_argument("--stride", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    need(CLIP)
    samples: list[tuple[int, float]] = []

    def stages(site: SiteConfig, camera_id: str, fps: float) -> tuple[TrackStage, MeasureStage]:
        tracker, measures = edge_stages(site, camera_id, fps)
        return _SampledTracker(tracker, samples), measures

    with tempfile.TemporaryDirectory() as tmp:
        opts = ReplayOptions(video=CLIP, site_path=SITE, out_dir=Path(tmp) / "o", stride=args.stride,
                             threads=args.threads, loops=args.loops)  # fmt: skip
        summary = run_replay(opts, stages=stages).summary
    per_loop = summary["frames"] // args.loops
    warm = [mb for n, mb in samples if n < per_loop]
    after = [mb for n, mb in samples if n >= per_loop]
    base = warm[-1]
    peak = max(after) if after else base
    growth = (peak - base) / base
    result: dict[str, Any] = {
        "clip": CLIP.name,
        "loops": args.loops,
        "stride": args.stride,
        "frames": summary["frames"],
        "rss_mb_end_of_warmup": round(base, 1),
        "rss_mb_peak_after_warmup": round(peak, 1),
        "rss_mb_last": round(samples[-1][1], 1),
        "growth": round(growth, 4),
        "target_growth": TARGET_GROWTH,
        "target_met": growth < TARGET_GROWTH,
        "samples": [[n, round(mb, 1)] for n, mb in samples],
        "pipeline_fps": summary["throughput"]["pipeline_fps"],
    }
    print(
        f"{summary['frames']} frames ({args.loops} loops, stride {args.stride}): RSS {base:.1f} MiB after warm-up, "
        f"peak {peak:.1f} MiB after ({growth:+.2%}; target < {TARGET_GROWTH:.0%}), last {samples[-1][1]:.1f} MiB"
    )
    print(f"wrote {write_result('replay_memory', result)}")


if __name__ == "__main__":
    main()
