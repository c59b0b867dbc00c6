"""Replay a recorded video through the edge pipeline as fast as possible, and write what it measured.

The stages are the edge box's own: :mod:`edge.capture` (decode in a background thread),
:mod:`edge.detect` (every k-th frame), the tracker (:mod:`edge.track`) and the site measures
(:mod:`edge.measure`). Outputs go to a temporary folder beside the destination that is renamed
into place only when the run succeeds, so a failure never leaves half-written results.

Output folder:

* ``aggregates.jsonl`` - one :class:`~edge.messages.Aggregate` per line, as sent to central;
* ``aggregates.csv``   - the same in long form (one measure per row);
* ``events.csv``       - Indiana hi-res events (timestamp, event code, parameter);
* ``summary.json``     - counts per line, direction and class; throughput and per-stage times;
* ``annotated.mp4``    - with ``annotate``: boxes, track ids, lines and counts.

Example:
    >>> result = run_replay(ReplayOptions(video=Path("clip.mp4"), site_path=Path("site.yaml")))  # doctest: +SKIP
    >>> result.summary["counts"]["row560"]["in"]["total"]  # doctest: +SKIP
    36
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture import Frame, VideoFileSource
from edge.clock import Stamp
from edge.config import CameraConfig, SiteConfig, reference_problems
from edge.config_loader import load_site
from edge.detect import DetectStage, load_detector
from edge.errors import ConfigError, OutputError
from edge.measure import CountTotals, SiteMeasures
from edge.messages import Aggregate, HiResEvent
from edge.track import Tracker
from models.classes import VehicleClass
from models.detections import Detections

log = logging.getLogger(__name__)

#: Version of the summary.json layout.
SUMMARY_VERSION = 1


class TrackStage(Protocol):
    """What replay needs from :class:`edge.track.Tracker`."""

    def update(self, detections: Detections | None, stamp: Stamp) -> Detections:
        """Confirmed, active tracks (``tracker_id`` set); ``None`` = no detection this frame."""
        ...


class MeasureStage(Protocol):
    """What replay needs from :class:`edge.measure.SiteMeasures`."""

    def update(self, tracks: Detections, stamp: Stamp) -> list[HiResEvent]:
        """Hi-res events caused by this frame's tracks."""
        ...

    def flush(self, stamp: Stamp, final: bool = False) -> list[Aggregate]:
        """Aggregates of the intervals closed by ``stamp`` (all open ones when ``final``)."""
        ...

    def totals(self) -> CountTotals:
        """Cumulative counts since the start."""
        ...


StageFactory = Callable[[SiteConfig, str, float], tuple[TrackStage, MeasureStage]]


def edge_stages(site: SiteConfig, camera_id: str, fps: float) -> tuple[TrackStage, MeasureStage]:
    """The edge box's own tracker and measures for one camera."""
    return Tracker(site.tracker, fps), SiteMeasures(site, camera_id)


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What to replay and how.

    Attributes:
        video: the recorded video.
        site_path: the site YAML file.
        model: a model file overriding the site's (its family is then auto-detected).
        out_dir: destination folder (default ``out/replay-<video name>``); replaced if it exists.
        camera: which camera of the site the video shows (default: the only one).
        stride: detect every k-th frame (default: the camera's ``detect_stride``).
        annotate: also write ``annotated.mp4``.
        limit: stop after this many frames.
        loops: play the video this many times back to back (memory soak tests).
        threads: onnxruntime intra-op threads (default: the site's ``intra_op_threads``).
        progress: show a progress bar on stderr.
        model_sample: frames also run through the detector alone, spread over the run and
            interleaved with it, for the model-only throughput (same frames, same threads,
            same machine load); their time is left out of the pipeline's.
    """

    video: Path
    site_path: Path
    model: Path | None = None
    out_dir: Path | None = None
    camera: str | None = None
    stride: int | None = None
    annotate: bool = False
    limit: int | None = None
    loops: int = 1
    threads: int | None = None
    progress: bool = False
    model_sample: int = 24


@dataclass(slots=True)
class ReplayResult:
    """What a replay produced."""

    summary: dict[str, Any]
    out_dir: Path
    files: list[str] = field(default_factory=list)


def pick_camera(site: SiteConfig, wanted: str | None) -> CameraConfig:
    """The camera the video belongs to; refuse a guess when the site has several."""
    if wanted is not None:
        try:
            return site.camera(wanted)
        except KeyError:
            known = ", ".join(c.id for c in site.cameras)
            raise ConfigError(f"site {site.site_id} has no camera {wanted!r} (cameras: {known})") from None
    if len(site.cameras) == 1:
        return site.cameras[0]
    known = ", ".join(c.id for c in site.cameras)
    raise ConfigError(f"site {site.site_id} has {len(site.cameras)} cameras ({known}); choose one with --camera")


def check_geometry(site: SiteConfig, camera: CameraConfig, size: tuple[int, int], where: str) -> None:
    """Refuse lines and zones that do not lie inside the video's real frame.

    Raises:
        ConfigError: every point outside the frame, and a frame size that differs from the one
            the site declares.
    """
    problems: list[str] = []
    if camera.frame_size is not None and tuple(camera.frame_size) != tuple(size):
        problems.append(
            f"{where}: the video is {size[0]}x{size[1]} but camera {camera.id!r} declares frame_size "
            f"{camera.frame_size[0]}x{camera.frame_size[1]}"
        )
    sized = camera.model_copy(update={"frame_size": size})
    probe = site.model_copy(update={"cameras": [sized if c.id == camera.id else c for c in site.cameras]})
    for loc, msg in reference_problems(probe):
        if "outside camera" in msg and camera.id in msg:
            path = ".".join(str(x) for x in loc)
            problems.append(f"{where}: {path}: {msg}")
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else f"{len(problems)} problem(s): {problems[0]}", problems)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """A temporary folder beside ``final`` that replaces it only if the block succeeds."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as err:
        raise OutputError(f"{final}: cannot create the output folder: {err.strerror or err}") from None
    try:
        yield tmp
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _Timer:
    """Seconds and calls per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def ms(self, name: str) -> float:
        n = self.calls.get(name, 0)
        return round(1000.0 * self.seconds.get(name, 0.0) / n, 3) if n else 0.0


class _Outputs:
    """The output files of one run, written as results arrive (nothing is held in memory)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._jsonl = (folder / "aggregates.jsonl").open("w", encoding="utf-8")
        self._agg_fh = (folder / "aggregates.csv").open("w", encoding="utf-8", newline="")
        self._agg = csv.writer(self._agg_fh)
        self._agg.writerow(["start", "duration_s", "section", "id", "direction", "measure", "value"])
        self._ev_fh = (folder / "events.csv").open("w", encoding="utf-8", newline="")
        self._ev = csv.writer(self._ev_fh)
        self._ev.writerow(["timestamp", "event_code", "event_param"])
        self.counts: dict[tuple[str, str], dict[str, int]] = {}
        self.aggregates = 0
        self.events = 0

    def aggregate(self, agg: Aggregate) -> None:
        self.aggregates += 1
        self._jsonl.write(agg.model_dump_json() + "\n")
        start, dur = f"{agg.start:.3f}", f"{agg.duration_s:g}"
        for lc in agg.lines:
            bucket = self.counts.setdefault((lc.line, lc.direction), {})
            for cls, n in lc.counts.items():
                bucket[cls] = bucket.get(cls, 0) + n
                self._agg.writerow([start, dur, "line", lc.line, lc.direction, cls, n])
        for mc in agg.movements:
            for cls, n in mc.counts.items():
                self._agg.writerow([start, dur, "movement", mc.movement, "", cls, n])
        for am in agg.approaches:
            for key, value in am.model_dump(exclude={"approach"}).items():
                if isinstance(value, dict):
                    for cls, n in value.items():
                        self._agg.writerow([start, dur, "approach", am.approach, "", f"{key}.{cls}", n])
                elif value is not None:
                    self._agg.writerow([start, dur, "approach", am.approach, "", key, value])

    def event(self, ev: HiResEvent) -> None:
        self.events += 1
        self._ev.writerow([f"{ev.ts:.3f}", ev.code, ev.param])

    def close(self) -> None:
        for fh in (self._jsonl, self._agg_fh, self._ev_fh):
            fh.close()


#: BGR colour per class for the annotated video.
_COLOURS: dict[int, tuple[int, int, int]] = {
    int(VehicleClass.CAR): (80, 200, 80),
    int(VehicleClass.MOTORCYCLE): (0, 200, 255),
    int(VehicleClass.BUS): (255, 160, 0),
    int(VehicleClass.TRUCK): (60, 60, 230),
    int(VehicleClass.BICYCLE): (200, 0, 200),
    int(VehicleClass.PERSON): (200, 200, 200),
}


class _Annotator:
    """Draws boxes, track ids, lines and running counts, and writes the MP4."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], site: SiteConfig, camera_id: str) -> None:
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise OutputError(f"{path}: cannot write an MP4 video here (no mp4v encoder?)")
        self._lines = [ln for ln in site.lines if ln.camera == camera_id]

    def draw(self, image: npt.NDArray[np.uint8], tracks: Detections, totals: CountTotals) -> None:
        canvas = image.copy()
        for ln in self._lines:
            p0 = (round(ln.points[0][0]), round(ln.points[0][1]))
            p1 = (round(ln.points[1][0]), round(ln.points[1][1]))
            cv2.line(canvas, p0, p1, (0, 255, 255), 2, cv2.LINE_AA)
        ids = tracks.tracker_id if tracks.tracker_id is not None else np.full(len(tracks), -1)
        for box, cls, tid in zip(tracks.xyxy.astype(int), tracks.class_id, ids, strict=True):
            colour = _COLOURS.get(int(cls), (255, 255, 255))
            cv2.rectangle(canvas, (box[0], box[1]), (box[2], box[3]), colour, 2)
            label = f"{VehicleClass(int(cls)).label} #{tid}" if tid >= 0 else VehicleClass(int(cls)).label
            cv2.putText(canvas, label, (box[0], max(12, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
        y = 24
        for ln in self._lines:
            for direction, label in (("in", ln.in_label), ("out", ln.out_label)):
                total = sum(totals.lines.get(ln.id, {}).get(direction, {}).values())
                text = f"{ln.id} {label}: {total}"
                cv2.putText(canvas, text, (12, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
                cv2.putText(canvas, text, (12, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
                y += 28
        self._writer.write(canvas)

    def close(self) -> None:
        self._writer.release()


def machine() -> dict[str, Any]:
    """A short description of the machine, for benchmark records."""
    import onnxruntime as ort  # noqa: PLC0415 - only needed when writing a summary

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "onnxruntime": ort.__version__,
    }


def _progress(total: int | None, enabled: bool) -> Any:
    from tqdm import tqdm  # noqa: PLC0415 - progress bars only for interactive runs

    return tqdm(total=total, unit="frame", file=sys.stderr, disable=not enabled, dynamic_ncols=True, leave=False)


def run_replay(options: ReplayOptions, stages: StageFactory = edge_stages) -> ReplayResult:
    """Replay ``options.video`` through the edge stages and write the outputs.

    Everything that can be checked before the first frame is checked first (site, video,
    geometry against the real frame size, model), so bad input fails fast with nothing written.

    Raises:
        ConfigError: bad site file, or lines/zones outside the frame.
        SourceError, SourceCorruptError: missing, corrupt or truncated video.
        ModelError: unreadable or unsupported model.
        OutputError: the output folder cannot be written.
    """
    site = load_site(options.site_path)
    camera = pick_camera(site, options.camera)
    stride = options.stride or camera.detect_stride
    if stride < 1:
        raise ConfigError(f"--stride must be at least 1, got {stride}")
    source = VideoFileSource(options.video, fps=camera.fps, loops=options.loops, limit=options.limit)
    try:
        check_geometry(site, camera, source.size, str(options.video))
        model_cfg = site.model
        updates: dict[str, Any] = {}
        if options.model is not None:
            updates.update(path=str(options.model), family="auto", input_size=None)
        if options.threads is not None:
            updates["intra_op_threads"] = options.threads
        if updates:
            model_cfg = model_cfg.model_copy(update=updates)
        detector = load_detector(model_cfg, options.site_path.parent, path=options.model)
        tracker, measures = stages(site, camera.id, source.fps)
        final = options.out_dir or Path("out") / f"replay-{options.video.stem}"
        with atomic_dir(final) as tmp:
            result = _run(
                options=options,
                site=site,
                camera=camera,
                source=source,
                detect=DetectStage(detector, stride),
                tracker=tracker,
                measures=measures,
                folder=tmp,
            )
            result.out_dir = final
        return result
    finally:
        source.close()


def _run(
    *,
    options: ReplayOptions,
    site: SiteConfig,
    camera: CameraConfig,
    source: VideoFileSource,
    detect: DetectStage,
    tracker: TrackStage,
    measures: MeasureStage,
    folder: Path,
) -> ReplayResult:
    timer = _Timer()
    out = _Outputs(folder)
    annotator = _Annotator(folder / "annotated.mp4", source.fps, source.size, site, camera.id) if options.annotate else None
    expected = source.expected_frames * options.loops if source.expected_frames else None
    if options.limit is not None:
        expected = min(expected or options.limit, options.limit)
    # Model-only throughput is sampled evenly over one pass of the video, interleaved with the
    # pipeline so that both see the same machine load (a shared box's load drifts over a run).
    every = max(1, (source.expected_frames or expected or 1) // max(1, options.model_sample))
    model_s: list[float] = []
    excluded = 0.0
    excluded_cpu = 0.0
    model_cpu: list[float] = []
    bar = _progress(expected, options.progress)
    frames = 0
    last: Frame | None = None
    perf = time.perf_counter
    t_start = perf()
    cpu_start = time.process_time()
    try:
        while True:
            t0 = perf()
            frame = source.read()
            t1 = perf()
            timer.add("decode_wait", t1 - t0)
            if frame is None:
                break
            dets = detect.update(frame)
            t2 = perf()
            tracks = tracker.update(dets, frame.stamp)
            t3 = perf()
            events = measures.update(tracks, frame.stamp)
            aggregates = measures.flush(frame.stamp)
            t4 = perf()
            timer.add("track", t3 - t2)
            timer.add("measure", t4 - t3)
            for ev in events:
                out.event(ev)
            for agg in aggregates:
                out.aggregate(agg)
            t5 = perf()
            timer.add("write", t5 - t4)
            if annotator is not None:
                annotator.draw(frame.image, tracks, measures.totals())
                timer.add("annotate", perf() - t5)
            if frame.index % every == 0 and len(model_s) < options.model_sample:
                t6, c6 = perf(), time.process_time()
                wall_s, cpu_s = _model_only_s(detect, source, frame)
                model_s.append(wall_s)
                model_cpu.append(cpu_s)
                excluded += perf() - t6
                excluded_cpu += time.process_time() - c6
            frames += 1
            last = frame
            bar.update(1)
        if last is not None:
            for agg in measures.flush(last.stamp.shifted(1.0 / source.fps), final=True):
                out.aggregate(agg)
        wall = perf() - t_start - excluded
        cpu = time.process_time() - cpu_start - excluded_cpu
    finally:
        bar.close()
        out.close()
        if annotator is not None:
            annotator.close()
    model_ms = 1000.0 * sum(model_s) / len(model_s) if model_s else None
    model_cpu_ms = 1000.0 * sum(model_cpu) / len(model_cpu) if model_cpu else None
    summary = _summary(
        options=options,
        site=site,
        camera=camera,
        source=source,
        detect=detect,
        timer=timer,
        out=out,
        frames=frames,
        wall=wall,
        cpu=cpu,
        model_ms=model_ms,
        model_cpu_ms=model_cpu_ms,
        sampled=len(model_s),
        totals=measures.totals(),
    )
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    files = sorted(p.name for p in folder.iterdir())
    summary["outputs"] = files
    return ReplayResult(summary=summary, out_dir=folder, files=files)


def _model_only_s(detect: DetectStage, source: VideoFileSource, frame: Frame) -> tuple[float, float]:
    """Wall and CPU seconds the detector alone (preprocess + inference + NMS) takes on ``frame``.

    Waits (briefly) for the decoder to fill its queue and block, so that the sample measures the
    model on its own rather than the model competing with decoding.
    """
    source.wait_idle(timeout=1.0)
    t0, c0 = time.perf_counter(), time.process_time()
    detect.detector.detect(frame.image)
    return time.perf_counter() - t0, time.process_time() - c0


def _summary(
    *,
    options: ReplayOptions,
    site: SiteConfig,
    camera: CameraConfig,
    source: VideoFileSource,
    detect: DetectStage,
    timer: _Timer,
    out: _Outputs,
    frames: int,
    wall: float,
    cpu: float,
    model_ms: float | None,
    model_cpu_ms: float | None,
    sampled: int,
    totals: CountTotals,
) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for ln in site.lines:
        if ln.camera != camera.id:
            continue
        entry: dict[str, Any] = {}
        for direction, label in (("in", ln.in_label), ("out", ln.out_label)):
            by_class = dict(sorted(totals.lines.get(ln.id, {}).get(direction, {}).items()))
            entry[direction] = {"label": label, "by_class": by_class, "total": sum(by_class.values())}
        counts[ln.id] = entry
    movements = {m: {"by_class": dict(sorted(c.items())), "total": sum(c.values())} for m, c in totals.movements.items()}
    ds = detect.stats
    det_n = max(ds.detected, 1)
    pipeline_fps = frames / wall if wall > 0 else 0.0
    model_fps = 1000.0 / model_ms if model_ms else None
    stage_ms = {
        "decode": round(1000.0 * source.stats.decode_s / max(source.stats.frames, 1), 3),
        "decode_wait": timer.ms("decode_wait"),
        "preprocess": round(1000.0 * ds.preprocess_s / det_n, 3),
        "inference": round(1000.0 * ds.inference_s / det_n, 3),
        "postprocess": round(1000.0 * ds.postprocess_s / det_n, 3),
        "track": timer.ms("track"),
        "measure": timer.ms("measure"),
        "write": timer.ms("write"),
    }
    if options.annotate:
        stage_ms["annotate"] = timer.ms("annotate")
    detector = detect.detector
    return {
        "version": SUMMARY_VERSION,
        "video": str(options.video),
        "site": site.site_id,
        "camera": camera.id,
        "model": {
            "path": str(detector.path),
            "family": detector.family,
            "input": list(detector.input_size),
            "providers": detector.providers,
            "intra_op_threads": site.model.intra_op_threads if options.threads is None else options.threads,
        },
        "frames": frames,
        "detected_frames": ds.detected,
        "stride": detect.stride,
        "video_fps": source.fps,
        "video_s": round(frames / source.fps, 3),
        "counts": counts,
        "movements": movements,
        "aggregates": out.aggregates,
        "events": out.events,
        "throughput": {
            "pipeline_fps": round(pipeline_fps, 2),
            "model_only_fps": None if model_fps is None else round(model_fps, 2),
            "model_only_ms": None if model_ms is None else round(model_ms, 3),
            "model_sample_frames": sampled,
            # With stride k the detector runs on 1/k of the frames, so the bound is k x model-only.
            "pipeline_vs_model": None
            if model_fps is None
            else round(pipeline_fps / (model_fps * detect.stride), 3),
            "realtime_factor": round(pipeline_fps / source.fps, 3),
            # CPU time (all threads of this process) does not depend on what else the machine
            # runs, unlike frames per second on a shared box: compare these across machines.
            "pipeline_cpu_ms_per_frame": round(1000.0 * cpu / max(frames, 1), 3),
            "model_only_cpu_ms_per_frame": None if model_cpu_ms is None else round(model_cpu_ms, 3),
            "wall_s": round(wall, 3),
        },
        "stage_ms": stage_ms,
        "machine": machine(),
    }
