"""Top-level stage functions for the supervisor and frame-ring tests (spawned processes import them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from edge.framering import FrameRing, RingHandle
from edge.supervisor import StageContext


def write_frames(ctx: StageContext, handle: RingHandle, count: int, delay_s: float) -> None:
    """Write ``count`` frames whose pixels hold their index, then close the ring."""
    ring = FrameRing.attach(handle)
    h, w = handle.shape
    for i in range(count):
        if ctx.stopping():
            break
        image = np.full((h, w, 3), i % 256, np.uint8)
        image[0, 0, 0], image[0, 0, 1] = i // 256, i % 256
        while not ring.write(image, index=i, mono=float(i), wall=1000.0 + i, timeout=0.2):
            if ctx.stopping():
                break
        ctx.beat()
        if delay_s:
            time.sleep(delay_s)
    ring.close_writer()
    ring.close()


def beat_forever(ctx: StageContext, marker: str) -> None:
    """A healthy stage: beats until asked to stop, then writes its pid to ``marker``."""
    while not ctx.wait(0.05):
        ctx.beat()
    Path(marker).write_text(str(os.getpid()))


def hang_after_start(ctx: StageContext, log_file: str) -> None:
    """A stage that records each start, then stops beating (stuck)."""
    with open(log_file, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(3600)


def crash_once(ctx: StageContext, flag: str) -> None:
    """Crash on the first run; beat normally after a restart."""
    if not Path(flag).exists():
        Path(flag).write_text("crashed")
        raise SystemExit(3)
    while not ctx.wait(0.05):
        ctx.beat()
