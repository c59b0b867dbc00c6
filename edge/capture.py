"""Frame sources: video files, RTSP/HTTP streams and USB cameras, through OpenCV's FFmpeg backend.

Two behaviours, on purpose:

* :class:`VideoFileSource` (replay) delivers **every** frame in order. A background thread
  decodes into a small bounded queue, so decoding overlaps inference and memory stays flat.
  Stamps are video time (frame index / fps), so results do not depend on processing speed.
* :class:`LiveSource` (cameras) delivers the **latest** frame. A background thread reads as
  fast as the camera sends; a frame the pipeline has not taken before the next one arrives is
  dropped and counted, so a slow detector never builds up latency or a queue. A stream that
  fails to open, stalls or drops is reopened with exponential back-off; the outage is logged
  and counted (:class:`SourceStats`), never fatal.

Other sources (the digital twin) implement the same :class:`FrameSource` protocol.

Example:
    >>> src = open_source(CameraConfig(id="cam", source="clip.mp4"))  # doctest: +SKIP
    >>> while (frame := src.read()) is not None:                     # doctest: +SKIP
    ...     handle(frame.image, frame.stamp)
    >>> src.close()                                                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.clock import Stamp
from edge.config import CameraConfig
from edge.errors import SourceCorruptError, SourceError

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

#: Timeouts handed to FFmpeg so that a dead network stream fails instead of blocking forever.
OPEN_TIMEOUT_MS = 10_000
READ_TIMEOUT_MS = 5_000

#: Frames a video file may fall short of its header's count before it is called truncated
#: (container frame counts are estimates for some formats).
TRUNCATION_TOLERANCE = 2

_STREAM = re.compile(r"^(rtsps?|rtmp|https?|udp|tcp|srt)://", re.IGNORECASE)
_USB = re.compile(r"^usb:(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    Attributes:
        image: ``HxWx3`` uint8 BGR pixels.
        index: frame number from the start of the source (counting dropped frames too).
        stamp: when the frame was captured (video time for files).
    """

    image: Image
    index: int
    stamp: Stamp


class FrameSource(Protocol):
    """Anything that yields frames: files, cameras, the digital twin."""

    fps: float
    size: tuple[int, int]

    def read(self) -> Frame | None:
        """The next frame, or ``None`` at the end of the stream (or after :meth:`close`)."""
        ...

    def close(self) -> None:
        """Stop background work and release the device or file."""
        ...


@dataclass(slots=True)
class SourceStats:
    """Counters of a source, for health messages and summaries.

    Attributes:
        frames: frames decoded.
        delivered: frames handed to the pipeline.
        dropped: live frames replaced by a newer one before the pipeline took them.
        reconnects: times a live stream was reopened after it had delivered frames.
        outages: times a live stream went down (or failed to come up).
        outage_s: seconds spent without a stream, summed.
        connected: a live stream is delivering now.
        decode_s: seconds the background thread spent decoding.
    """

    frames: int = 0
    delivered: int = 0
    dropped: int = 0
    reconnects: int = 0
    outages: int = 0
    outage_s: float = 0.0
    connected: bool = False
    decode_s: float = 0.0


def _quiet_ffmpeg() -> None:
    # FFmpeg prints every damaged macroblock to stderr; Simpang reports damage itself, once.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class VideoFileSource:
    """Every frame of a video file, in order, decoded ahead in a background thread.

    Args:
        path: the video file.
        fps: frame rate to assume when the container does not say (or to override it).
        queue_size: frames decoded ahead; bounds memory (each 720p frame is 2.7 MB).
        start_wall: wall-clock time of frame 0 (Unix seconds); default: now.
        loops: play the file this many times back to back (indices and stamps keep rising).
        limit: stop after this many frames.

    Raises:
        SourceError: the file does not exist.
        SourceCorruptError: it cannot be opened as a video or its first frame cannot be decoded.
            A file that breaks off later makes :meth:`read` raise it.

    Example:
        >>> src = VideoFileSource(Path("highway_uk_720p.mp4"))  # doctest: +SKIP
        >>> src.fps, src.size                                    # doctest: +SKIP
        (25.0, (1280, 720))
    """

    def __init__(
        self,
        path: Path,
        *,
        fps: float | None = None,
        queue_size: int = 4,
        start_wall: float | None = None,
        loops: int = 1,
        limit: int | None = None,
    ) -> None:
        _quiet_ffmpeg()
        self.path = path
        if not path.exists():
            raise SourceError(f"{path}: video file not found")
        if not path.is_file():
            raise SourceError(f"{path}: not a file")
        cap = self._open()
        native_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = float(fps or (native_fps if 0.0 < native_fps <= 240.0 else 0.0))
        if self.fps <= 0.0:
            cap.release()
            raise SourceCorruptError(f"{path}: the video does not state its frame rate; set the camera's fps")
        self.expected_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceCorruptError(f"{path}: no frame can be decoded (corrupt or unsupported video)")
        self.size: tuple[int, int] = (int(first.shape[1]), int(first.shape[0]))
        self.stats = SourceStats()
        self._start_wall = time.time() if start_wall is None else float(start_wall)
        self._loops = max(1, int(loops))
        self._limit = limit
        self._queue: queue.Queue[Frame | BaseException | None] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._decode, args=(cap, first), name=f"decode:{path.name}", daemon=True
        )
        self._thread.start()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceCorruptError(f"{self.path}: cannot be opened as a video (corrupt or unsupported format)")
        return cap

    def _put(self, item: Frame | BaseException | None) -> bool:
        """Block until the queue takes ``item``; ``False`` if the source was closed meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode(self, cap: cv2.VideoCapture, first: Image) -> None:
        index = 0
        pending: Image | None = first
        try:
            for loop in range(self._loops):
                if loop:
                    pending = None
                    # Rewind rather than reopen: a new decoder allocates fresh buffers, which
                    # showed as a step in resident memory on every loop of a soak test.
                    if not cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        cap.release()
                        cap = self._open()
                in_loop = 0
                while self._limit is None or index < self._limit:
                    t0 = time.perf_counter()
                    if pending is not None:
                        ok, image = True, pending
                        pending = None
                    else:
                        ok, raw = cap.read()
                        image = np.asarray(raw, dtype=np.uint8) if ok and raw is not None else first[:0]
                    self.stats.decode_s += time.perf_counter() - t0
                    if not ok or image.size == 0:
                        break
                    t = index / self.fps
                    if not self._put(Frame(image, index, Stamp(mono=t, wall=self._start_wall + t))):
                        return
                    self.stats.frames += 1
                    index += 1
                    in_loop += 1
                if self._limit is not None and index >= self._limit:
                    break
                if self.expected_frames and in_loop < self.expected_frames - TRUNCATION_TOLERANCE:
                    raise SourceCorruptError(
                        f"{self.path}: video breaks off after {in_loop} of {self.expected_frames} frames "
                        "(truncated or corrupt)"
                    )
        except SourceError as err:
            self._put(err)
            return
        except cv2.error as err:
            self._put(SourceCorruptError(f"{self.path}: decoding failed: {str(err).strip().splitlines()[-1]}"))
            return
        finally:
            cap.release()
        self._put(None)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the decoder is blocked on a full queue or finished; ``False`` on timeout.

        For measurements that must not compete with decoding (model-only throughput).
        """
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and not self._queue.full():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def read(self) -> Frame | None:
        """The next frame in order; ``None`` at the end.

        Raises:
            SourceCorruptError: the file breaks off or cannot be decoded any further.
        """
        if self._done:
            return None
        while True:
            try:
                item = self._queue.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self._done = True
                    raise SourceError(f"{self.path}: the decoder stopped unexpectedly") from None
        if item is None:
            self._done = True
            return None
        if isinstance(item, BaseException):
            self._done = True
            raise item
        self.stats.delivered += 1
        return item

    def close(self) -> None:
        """Stop the decoder thread and release the file."""
        self._stop.set()
        self._done = True
        self._thread.join(timeout=5.0)


Opener = Callable[[str | int], cv2.VideoCapture]


def open_capture(target: str | int) -> cv2.VideoCapture:
    """Open a camera index or stream URL with timeouts, asking for a one-frame buffer."""
    _quiet_ffmpeg()
    if isinstance(target, int):
        cap = cv2.VideoCapture(target)
    else:
        if target.lower().startswith("rtsp") and "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ:
            # TCP: UDP loses packets on busy city networks and smears frames.
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
        cap = cv2.VideoCapture(
            target,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS],
        )
    # Drivers that honour it then hold one frame, not a second of stale ones.
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


class LiveSource:
    """The latest frame of a camera or network stream, reconnecting with back-off.

    Args:
        target: camera index or stream URL.
        name: camera id, for logs.
        fps: nominal rate to report when the stream does not say.
        reconnect_min_s: first delay before reopening a failed stream; doubles per failure.
        reconnect_max_s: longest delay between attempts.
        opener: opens ``target`` (tests pass a function that opens a file).
        clock: stamps frames when they arrive.

    Example:
        >>> cam = LiveSource("rtsp://10.0.0.5/stream1", name="north")  # doctest: +SKIP
        >>> frame = cam.read()  # blocks until a frame arrives              # doctest: +SKIP
        >>> cam.stats.dropped, cam.stats.reconnects                         # doctest: +SKIP
        (0, 0)
    """

    def __init__(
        self,
        target: str | int,
        *,
        name: str = "camera",
        fps: float | None = None,
        frame_size: tuple[int, int] | None = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        opener: Opener = open_capture,
        clock: Callable[[], Stamp] = Stamp.now,
    ) -> None:
        self.name = name
        self.fps = float(fps or 0.0)
        self.size: tuple[int, int] = frame_size or (0, 0)
        self.stats = SourceStats()
        self._target = target
        self._min = float(reconnect_min_s)
        self._max = max(float(reconnect_max_s), self._min)
        self._opener = opener
        self._clock = clock
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture:{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        delay = self._min
        index = 0
        down_since: float | None = time.monotonic()
        ever_connected = False
        while not self._stop.is_set():
            cap = self._opener(self._target)
            delivered = 0
            if cap.isOpened():
                native = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                if self.fps <= 0.0 and 0.0 < native <= 240.0:
                    self.fps = native
                while not self._stop.is_set():
                    t0 = time.perf_counter()
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    self.stats.decode_s += time.perf_counter() - t0
                    if delivered == 0:
                        if ever_connected:
                            self.stats.reconnects += 1
                        if down_since is not None:
                            gap = time.monotonic() - down_since
                            self.stats.outage_s += gap
                            if ever_connected:
                                log.warning("camera %s: stream back after %.1f s", self.name, gap)
                            down_since = None
                        ever_connected = True
                        self.stats.connected = True
                        self.size = (int(image.shape[1]), int(image.shape[0]))
                        delay = self._min
                    delivered += 1
                    frame = Frame(np.asarray(image, dtype=np.uint8), index, self._clock())
                    index += 1
                    self.stats.frames += 1
                    with self._cond:
                        if self._latest is not None:
                            # The pipeline is behind: keep only the newest frame, count the loss.
                            self.stats.dropped += 1
                        self._latest = frame
                        self._cond.notify()
            cap.release()
            if self._stop.is_set():
                break
            self.stats.connected = False
            self.stats.outages += 1
            if down_since is None:
                down_since = time.monotonic()
            log.warning(
                "camera %s: stream %s; retrying in %.2f s",
                self.name,
                "dropped" if delivered else "unavailable",
                delay,
            )
            self._stop.wait(delay)
            delay = min(delay * 2.0, self._max)
        self.stats.connected = False
        with self._cond:
            self._cond.notify_all()

    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet delivered; blocks until one arrives.

        Returns ``None`` after :meth:`close`, or when ``timeout`` seconds pass without a frame
        (a stalled camera: the caller can report health and ask again).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._latest is not None or self._stop.is_set(), timeout):
                return None
            if self._stop.is_set():
                return None
            frame, self._latest = self._latest, None
        if frame is not None:
            self.stats.delivered += 1
        return frame

    def close(self) -> None:
        """Stop reading and release the stream."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=READ_TIMEOUT_MS / 1000 + 1.0)


def open_source(
    camera: CameraConfig,
    *,
    base_dir: Path | None = None,
    loops: int = 1,
    limit: int | None = None,
    start_wall: float | None = None,
) -> FrameSource:
    """The frame source for a camera, chosen by its ``source`` string.

    ``usb:N`` opens local camera N, ``rtsp://``, ``http(s)://`` and other stream URLs open a
    :class:`LiveSource`; anything else is a video file (relative to ``base_dir``) replayed with
    :class:`VideoFileSource`.

    Raises:
        SourceError: an unknown scheme, or a file that is missing; SourceCorruptError for a file
            that is not a decodable video.
    """
    src = camera.source.strip()
    if src.startswith("twin:"):
        from edge.twin.source import open_twin  # noqa: PLC0415 (needs the bench extra: SUMO)

        return open_twin(src, fps=camera.fps, frame_size=camera.frame_size)
    if m := _USB.match(src):
        return LiveSource(
            int(m.group(1)),
            name=camera.id,
            fps=camera.fps,
            frame_size=camera.frame_size,
            reconnect_min_s=camera.reconnect_min_s,
            reconnect_max_s=camera.reconnect_max_s,
        )
    if _STREAM.match(src):
        return LiveSource(
            src,
            name=camera.id,
            fps=camera.fps,
            frame_size=camera.frame_size,
            reconnect_min_s=camera.reconnect_min_s,
            reconnect_max_s=camera.reconnect_max_s,
        )
    if re.match(r"^[a-z][a-z0-9+.-]*:(?!\\)", src, re.IGNORECASE) and not re.match(r"^[a-zA-Z]:[\\/]", src):
        scheme = src.split(":", 1)[0]
        raise SourceError(f"camera {camera.id}: unsupported source scheme {scheme!r} in {src!r}")
    path = Path(src).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = (base_dir / path).resolve()
    return VideoFileSource(path, fps=camera.fps, loops=loops, limit=limit, start_wall=start_wall)
