"""Frame sources on real files: order, stamps, bounded decode-ahead, truncation, live drop and reconnect."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import LiveSource, VideoFileSource, open_capture, open_source
from edge.config import CameraConfig
from edge.errors import SourceCorruptError, SourceError
from tests.helpers import shared_file


def _write_avi(path: Path, frames: int = 30, fps: float = 10.0) -> Path:
    """A small MJPEG AVI whose frame i is filled with the value 8*i (readable back from pixels)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    return path


def _value(image: np.ndarray) -> int:
    return round(float(image.mean()) / 8)


def test_file_source_delivers_every_frame_in_order_with_video_time(tmp_path: Path) -> None:
    src = VideoFileSource(_write_avi(tmp_path / "v.avi"), start_wall=1000.0)
    assert (src.fps, src.size, src.expected_frames) == (10.0, (64, 48), 30)
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    src.close()
    assert [f.index for f in frames] == list(range(30))
    assert [_value(f.image) for f in frames] == list(range(30))
    assert frames[7].stamp.mono == pytest.approx(0.7)
    assert frames[7].stamp.wall == pytest.approx(1000.7)
    assert src.read() is None
    assert src.stats.delivered == 30


def test_file_source_loops_and_limits(tmp_path: Path) -> None:
    src = VideoFileSource(_write_avi(tmp_path / "v.avi", frames=10), loops=3, limit=25)
    indices, values = [], []
    while (f := src.read()) is not None:
        indices.append(f.index)
        values.append(_value(f.image))
    assert indices == list(range(25))
    assert values == [i % 10 for i in range(25)]


def test_file_source_decodes_ahead_into_a_bounded_queue(tmp_path: Path) -> None:
    src = VideoFileSource(_write_avi(tmp_path / "v.avi"), queue_size=3)
    time.sleep(0.3)  # plenty for the thread to decode all 30 frames if it were unbounded
    assert src.stats.frames <= 3
    first = src.read()
    assert first is not None
    assert first.index == 0
    src.close()
    assert not any(t.name.startswith("decode:v.avi") and t.is_alive() for t in threading.enumerate())


def test_truncated_file_ends_with_a_corrupt_error(tmp_path: Path) -> None:
    whole = _write_avi(tmp_path / "whole.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) // 2])
    src = VideoFileSource(cut)

    def drain() -> None:
        while src.read() is not None:
            pass

    with pytest.raises(SourceCorruptError, match=r"cut\.avi: video breaks off after \d+ of 30 frames"):
        drain()


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, SourceError, "video file not found"),
        (b"", SourceCorruptError, "cannot be opened as a video"),
        (b"\x00garbage" * 1000, SourceCorruptError, "cannot be opened as a video"),
    ],
)
def test_missing_or_garbage_file_is_refused_at_open(
    tmp_path: Path, content: bytes | None, error: type[Exception], message: str
) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        VideoFileSource(path)


def test_real_clip_whose_index_is_cut_off_is_corrupt(tmp_path: Path) -> None:
    data = shared_file("highway_uk_720p.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SourceCorruptError, match=r"cut\.mp4: cannot be opened as a video"):
        VideoFileSource(cut)


def test_open_source_picks_by_source_string(tmp_path: Path) -> None:
    _write_avi(tmp_path / "v.avi")
    src = open_source(CameraConfig(id="c", source="v.avi"), base_dir=tmp_path)
    assert isinstance(src, VideoFileSource)
    src.close()
    with pytest.raises(SourceError, match="unsupported source scheme 'ftp'"):
        open_source(CameraConfig(id="c", source="ftp://example.org/x.mp4"))


def test_live_source_keeps_only_the_latest_frame_and_counts_drops(tmp_path: Path) -> None:
    # Reading a file is much faster than the 'pipeline' below takes frames: a camera outrunning
    # a slow detector. When the file ends the stream counts as dropped and is reopened.
    path = _write_avi(tmp_path / "v.avi", frames=30)
    cam = LiveSource(
        str(path), name="t", reconnect_min_s=0.01, reconnect_max_s=0.02, opener=lambda t: open_capture(str(t))
    )
    first = cam.read(timeout=5.0)
    assert first is not None
    time.sleep(0.3)
    later = cam.read(timeout=5.0)
    cam.close()
    assert later is not None
    assert later.index > first.index + 1
    assert cam.stats.dropped > 0
    assert cam.stats.reconnects >= 1
    assert cam.stats.outages >= 1
    assert cam.stats.delivered == 2
    assert cam.read() is None


def test_live_source_backs_off_exponentially_while_the_stream_is_down(tmp_path: Path) -> None:
    attempts: list[float] = []

    def dead(target: str | int) -> cv2.VideoCapture:
        attempts.append(time.monotonic())
        return cv2.VideoCapture(str(tmp_path / "absent.mp4"))

    cam = LiveSource("rtsp://camera.invalid/1", reconnect_min_s=0.02, reconnect_max_s=0.08, opener=dead)
    assert cam.read(timeout=0.5) is None  # no frame: a stalled camera, not an exception
    cam.close()
    gaps = np.diff(attempts)
    assert len(gaps) >= 4
    # 0.02, 0.04, 0.08, 0.08, ...: doubling, then capped.
    assert gaps[0] == pytest.approx(0.02, abs=0.015)
    assert gaps[1] == pytest.approx(0.04, abs=0.02)
    assert all(g < 0.08 + 0.05 for g in gaps)
    assert gaps[3] == pytest.approx(0.08, abs=0.04)
    assert cam.stats.outages == len(attempts)
    assert not cam.stats.connected
