"""Frame ring: frames cross processes through shared memory, in order or newest-first."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import numpy as np
import pytest

from edge.framering import FrameRing
from edge.supervisor import StageContext
from tests.edge.stage_fixtures import write_frames


def _pixel_index(image: np.ndarray) -> int:
    return int(image[0, 0, 0]) * 256 + int(image[0, 0, 1])


_KEEP: list[object] = []


def _run_writer(ring: FrameRing, count: int, delay_s: float) -> mp.process.BaseProcess:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    hb = ctx.Value("d", 0.0)
    # Process.start() drops its args, and a spawned child unpickles them later: the parent must
    # keep the semaphores alive meanwhile, or their finaliser unlinks them first.
    _KEEP[:] = [stop, hb]
    proc = ctx.Process(target=_writer_entry, args=(ring.handle, count, delay_s, hb, stop))
    proc.start()
    return proc


def _writer_entry(handle, count, delay_s, hb, stop) -> None:  # type: ignore[no-untyped-def]
    write_frames(StageContext("w", hb, stop), handle, count, delay_s)


def test_every_mode_delivers_all_frames_in_order_across_processes() -> None:
    ring = FrameRing.create((36, 64), slots=3, mode="every")
    try:
        proc = _run_writer(ring, 300, 0.0)
        seen = []
        while True:
            f = ring.read(timeout=10.0)
            if f is None:
                break
            assert _pixel_index(f.image) == f.index  # not torn, right slot
            assert f.wall == pytest.approx(1000.0 + f.index)
            seen.append(f.index)
            if f.index % 50 == 0:
                time.sleep(0.01)  # a slow reader must make the writer wait, not skip
        proc.join(10)
        assert seen == list(range(300))
        assert proc.exitcode == 0
    finally:
        ring.close()
        ring.unlink()


def test_latest_mode_skips_stale_frames_and_counts_them() -> None:
    ring = FrameRing.create((36, 64), slots=3, mode="latest")
    try:
        proc = _run_writer(ring, 200, 0.001)
        seen, dropped = [], 0
        while True:
            f = ring.read(timeout=10.0)
            if f is None:
                break
            assert _pixel_index(f.image) == f.index
            seen.append(f.index)
            dropped += f.dropped
            time.sleep(0.01)  # slower than the writer
        proc.join(10)
        assert seen == sorted(seen)
        assert len(seen) < 200, "a slow reader should not see every frame"
        assert len(seen) + dropped == seen[-1] + 1
    finally:
        ring.close()
        ring.unlink()


def test_wrong_shape_refused_and_every_mode_write_times_out() -> None:
    ring = FrameRing.create((4, 4), slots=2, mode="every")
    try:
        with pytest.raises(ValueError, match="does not fit ring"):
            ring.write(np.zeros((5, 4, 3), np.uint8), 0, 0.0, 0.0)
        img = np.zeros((4, 4, 3), np.uint8)
        assert ring.write(img, 0, 0.0, 0.0)
        assert ring.write(img, 1, 0.0, 0.0)
        assert not ring.write(img, 2, 0.0, 0.0, timeout=0.1)  # full, nobody reading
        reader = threading.Thread(target=lambda: ring.read(timeout=1.0))
        reader.start()
        reader.join()
        assert ring.write(img, 2, 0.0, 0.0, timeout=1.0)
    finally:
        ring.close()
        ring.unlink()
