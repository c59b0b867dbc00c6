"""Simpang's tracker against supervision's ByteTrack on the real highway clip.

Both trackers get the same YOLOX-nano detections of ``../shared/data/highway_uk_720p.mp4``
(detected once with the site's model at the tracker's low threshold and cached under /tmp), and
both outputs are counted by the same :class:`edge.measure.SiteMeasures` on the site's counting
line. Reported per tracker and detection stride k: vehicles counted each way against the hand
count (36 each way), the error, ids handed out, and tracker CPU milliseconds per video frame.

supervision is not a Simpang dependency (its ByteTrack, last shipped in 0.26.x, pulls
opencv-python, matplotlib and pillow). To include it, run this module with an interpreter that
has it, for example::

    python -m venv /tmp/svenv && /tmp/svenv/bin/pip install "supervision==0.26.1" onnxruntime pydantic pyyaml
    PYTHONPATH=. /tmp/svenv/bin/python -m benchmarks.tracker_compare

With only Simpang installed it measures Simpang's tracker alone. Writes
``benchmarks/results/tracker_compare.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.vision_common import CLIP, HAND_COUNT, SITE, hand_count, need, write_result
from edge.clock import Stamp
from edge.config import SiteConfig
from edge.config_loader import load_site
from edge.detect import load_detector
from edge.measure import SiteMeasures
from edge.track import Tracker
from models.detections import Detections

CACHE = Path("/tmp/simpang_highway_yolox_dets.npz")


def detect_all(site: SiteConfig, video: Path, cache: Path) -> list[Detections]:
    """Every frame's detections, from the cache or by running the site's model once."""
    if cache.exists():
        z = np.load(cache)
        return [_from_rows(z[f"f{i}"]) for i in range(int(z["n"]))]
    model_cfg = site.model.model_copy(update={"confidence": site.tracker.low_threshold})
    detector = load_detector(model_cfg, SITE.parent)
    cap = cv2.VideoCapture(str(video))
    frames: list[Detections] = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(detector.detect(np.asarray(image, dtype=np.uint8)))
    cap.release()
    rows = {
        f"f{i}": np.concatenate([d.xyxy, d.confidence[:, None], d.class_id[:, None].astype(np.float32)], axis=1)
        for i, d in enumerate(frames)
    }
    np.savez_compressed(cache, n=len(frames), **rows)  # type: ignore[arg-type]
    return frames


def _from_rows(rows: np.ndarray[Any, np.dtype[np.float32]]) -> Detections:
    return Detections(xyxy=rows[:, :4], confidence=rows[:, 4], class_id=rows[:, 5].astype(np.int64))


def run(name: str, frames: list[Detections], site: SiteConfig, *, fps: float, stride: int, min_conf: float) -> dict[str, Any]:
    """Count the clip with one tracker at one stride."""
    measures = SiteMeasures(site, site.cameras[0].id)
    ids: set[int] = set()
    cpu = 0.0
    step: Any
    if name == "simpang":
        tracker = Tracker(site.tracker, fps)
        step = tracker.update
    else:
        sv = importlib.import_module("supervision")
        byte = sv.ByteTrack(
            track_activation_threshold=site.tracker.high_threshold,
            lost_track_buffer=round(site.tracker.lost_after_s * fps / stride),
            minimum_matching_threshold=1.0 - site.tracker.match_iou,
            frame_rate=round(fps / stride),
            minimum_consecutive_frames=site.tracker.min_hits,
        )

        def step(det: Detections | None, stamp: Stamp) -> Detections | None:
            if det is None:
                return None  # supervision has no prediction between detector frames
            out = byte.update_with_detections(
                sv.Detections(xyxy=det.xyxy.copy(), confidence=det.confidence.copy(), class_id=det.class_id.copy())
            )
            return Detections(xyxy=out.xyxy, confidence=out.confidence, class_id=out.class_id, tracker_id=out.tracker_id)

    for i, raw in enumerate(frames):
        det = raw[raw.confidence >= min_conf]
        stamp = Stamp(i / fps, 1_700_000_000.0 + i / fps)
        c0 = time.process_time()
        tracks = step(det if i % stride == 0 else None, stamp)
        cpu += time.process_time() - c0
        if tracks is not None:
            assert tracks.tracker_id is not None
            ids.update(tracks.tracker_id.tolist())
            measures.update(tracks, stamp)
    totals = measures.totals()
    line = site.lines[0].id
    return {
        "tracker": name,
        "stride": stride,
        "towards_camera": totals.line_total(line, "in"),
        "away_from_camera": totals.line_total(line, "out"),
        "by_class": totals.lines[line],
        "ids": len(ids),
        "tracker_cpu_ms_per_frame": cpu / len(frames) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="detections cache (.npz), made on first use")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--min-conf", type=float, default=None, help="drop detections below this (default: the site model's confidence)")
    args = parser.parse_args()
    video = need(CLIP)
    site = load_site(SITE)
    hand = hand_count()
    want_in, want_out = hand["right"], hand["left"]  # 'in' is down the image: the right carriageway
    fps = float(json.loads(need(HAND_COUNT).read_text())["fps"])
    min_conf = site.model.confidence if args.min_conf is None else args.min_conf
    frames = detect_all(site, video, args.cache)
    names = ["simpang"]
    try:
        importlib.import_module("supervision").ByteTrack  # noqa: B018 - probe for the class
        names.append("supervision")
    except (ImportError, AttributeError):
        print("supervision ByteTrack not importable: measuring Simpang's tracker only (see the module docstring)")
    results = []
    for name in names:
        for k in args.strides:
            r = run(name, frames, site, fps=fps, stride=k, min_conf=min_conf)
            r["error_towards_pct"] = 100.0 * (r["towards_camera"] - want_in) / want_in
            r["error_away_pct"] = 100.0 * (r["away_from_camera"] - want_out) / want_out
            results.append(r)
    print(f"highway clip, YOLOX-nano detections >= {min_conf}, hand count {want_in} towards / {want_out} away")
    print(f"{'tracker':>12} {'k':>2} {'towards':>8} {'err%':>6} {'away':>5} {'err%':>6} {'ids':>4} {'cpu ms/frame':>13}")
    for r in results:
        print(
            f"{r['tracker']:>12} {r['stride']:>2} {r['towards_camera']:>8} {r['error_towards_pct']:>6.1f} "
            f"{r['away_from_camera']:>5} {r['error_away_pct']:>6.1f} {r['ids']:>4} {r['tracker_cpu_ms_per_frame']:>13.2f}"
        )
    payload: dict[str, Any] = {"min_conf": min_conf, "hand_count": {"towards": want_in, "away": want_out}, "results": results}
    with contextlib.suppress(ImportError):
        payload["supervision"] = importlib.import_module("supervision").__version__
    print(f"wrote {write_result('tracker_compare', payload)}")


if __name__ == "__main__":
    main()
