"""Class-aware NMS: OpenCV's NMSBoxesBatched against the vectorised NumPy version.

Candidate counts span what a traffic frame gives after the confidence filter (tens) up to a
crowded scene at a low threshold (thousands).

    python -m benchmarks.vision_nms
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.vision_common import write_result
from models.nms import nms, nms_numpy


def main() -> None:
    """Time both implementations and write ``benchmarks/results/vision_nms.json``."""
    rng = np.random.default_rng(0)
    rows = []
    for n in (20, 100, 500, 2000):
        xy = rng.uniform(0, 1200, (n, 2)).astype(np.float32)
        wh = rng.uniform(10, 150, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + wh], axis=1)
        scores = rng.uniform(0.1, 1.0, n).astype(np.float32)
        classes = rng.integers(0, 4, n)
        row: dict[str, float | int] = {"boxes": n}
        for name, fn in (("opencv_ms", nms), ("numpy_ms", nms_numpy)):
            reps = max(5, 2000 // n)
            t0 = time.perf_counter()
            for _ in range(reps):
                fn(boxes, scores, classes, 0.5)
            row[name] = round(1000 * (time.perf_counter() - t0) / reps, 4)
        rows.append(row)
        print(f"{n:5d} boxes: opencv {row['opencv_ms']:.3f} ms, numpy {row['numpy_ms']:.3f} ms")
    print(f"wrote {write_result('vision_nms', {'rows': rows})}")


if __name__ == "__main__":
    main()
