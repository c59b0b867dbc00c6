"""Record twin video with its ground truth, for replay tests of the vision pipeline.

Writes the frames as a video and, beside it, one JSON line per frame (boxes, classes, SUMO ids,
visibility, stop-bar crossings) plus a last line with the movement counts. With ``drain_s``, the
recording goes on that long after the counted window with every signal held red (the twin's
closed loop): vehicles already past a stop bar reach their exit line on video, no new ones
enter, so vision movement counts of the whole clip and the window's truth cover the same vehicles.

Example:
    >>> rec = record_clip("twin:fourleg?seed=101&lighting=afternoon", Path("clip.mp4"), 60.0)  # doctest: +SKIP
    >>> rec.counts["north_through"]  # doctest: +SKIP
    {'motorcycle': 14, 'car': 6}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edge.errors import OutputError
from edge.twin.source import TwinSource, open_twin


@dataclass(frozen=True, slots=True)
class Recording:
    """What :func:`record_clip` wrote.

    Attributes:
        video: The video file.
        truth: The JSON-lines ground truth beside it.
        frames: Frames written (window and drain).
        counts: Movement id -> class label -> vehicles that crossed a stop bar in the window.
    """

    video: Path
    truth: Path
    frames: int
    counts: dict[str, dict[str, int]]

    def totals(self) -> dict[str, int]:
        """Movement id -> vehicles of every class."""
        return {m: sum(per.values()) for m, per in sorted(self.counts.items())}


def record_clip(uri: str, video: Path, seconds: float, skip_s: float = 0.0, drain_s: float = 0.0) -> Recording:
    """Render ``seconds`` of twin video (after ``skip_s`` unrecorded), then ``drain_s`` under all-red.

    Raises:
        OutputError: bad durations, or the video cannot be written.
    """
    if seconds <= 0 or skip_s < 0 or drain_s < 0:
        raise OutputError("--seconds must be positive and --skip / --drain not negative")
    truth_path = video.with_suffix(".truth.jsonl")
    video.parent.mkdir(parents=True, exist_ok=True)
    with open_twin(uri) as src:
        for _ in range(round(skip_s * src.fps)):
            if not src.step():
                break
        start = {m: dict(per) for m, per in src.counter.counts.items()}
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), src.fps, src.size)
        if not writer.isOpened():
            raise OutputError(f"cannot write video {video}")
        window = round(seconds * src.fps)
        frames = 0
        counts: dict[str, dict[str, int]] | None = None
        try:
            with truth_path.open("w") as fh:
                for k in range(window + round(drain_s * src.fps)):
                    if k == window:
                        counts = _since(start, src.counter.counts)
                        tls = src.world.traci.trafficlight
                        links = len(tls.getRedYellowGreenState(src.world.tls_id))
                        tls.setRedYellowGreenState(src.world.tls_id, "r" * links)
                    frame = src.read()
                    if frame is None:
                        break
                    writer.write(frame.image)
                    fh.write(json.dumps(_row(frames, src.world.time_s, src)) + "\n")
                    frames += 1
                if counts is None:
                    counts = _since(start, src.counter.counts)
                fh.write(json.dumps({"counts": counts}) + "\n")
        finally:
            writer.release()
    return Recording(video, truth_path, frames, counts)


def _since(start: dict[str, dict[str, int]], now: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for m, per in now.items():
        diff = {c: n - start.get(m, {}).get(c, 0) for c, n in per.items()}
        diff = {c: n for c, n in diff.items() if n}
        if diff:
            out[m] = diff
    return out


def _row(index: int, time_s: float, src: TwinSource) -> dict[str, Any]:
    t = src.truth
    return {
        "index": index,
        "time_s": round(time_s, 3),
        "ids": list(t.ids),
        "xyxy": [[round(v, 1) for v in box] for box in t.detections.xyxy.tolist()],
        "class": [int(c) for c in t.detections.class_id.tolist()],
        "visibility": [round(v, 3) for v in t.visibility.tolist()],
        "crossed": [list(e) for e in src.events],
    }
