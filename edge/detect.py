"""The detector stage: run the model on every k-th frame and keep per-step timings.

The pure core is :meth:`DetectStage.update` (frame in, detections or ``None`` out); the model
itself lives in :mod:`models` (one adapter per family behind :class:`models.detector.Detector`).

Example:
    >>> stage = DetectStage(load_detector(site.model, site_dir), stride=2)  # doctest: +SKIP
    >>> stage.update(frame)        # frame 0: detections                     # doctest: +SKIP
    >>> stage.update(next_frame)   # frame 1: None, the tracker predicts     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.capture import Frame
from edge.config import ModelConfig
from models.detections import Detections
from models.detector import Detector
from models.zoo import resolve_model


def load_detector(config: ModelConfig, base_dir: Path | None = None, *, path: Path | None = None) -> Detector:
    """Load the site's detector (``path`` overrides ``config.path``; relative paths use ``base_dir``).

    Raises:
        ModelLoadError, UnsupportedModelError, UnknownModelError: see :meth:`Detector.load`.
    """
    model_path = path if path is not None else resolve_model(config.path, base_dir)
    return Detector.load(model_path, config)


@dataclass(slots=True)
class DetectStats:
    """Work done by the detector stage: frames seen and detected, seconds per step."""

    frames: int = 0
    detected: int = 0
    boxes: int = 0
    preprocess_s: float = 0.0
    inference_s: float = 0.0
    postprocess_s: float = 0.0


class DetectStage:
    """Detect on every ``stride``-th frame; return ``None`` on the others.

    Frames are counted as they arrive, not by their index, so a live camera that drops frames
    still gets a detection every ``stride`` delivered frames.
    """

    def __init__(self, detector: Detector, stride: int = 1) -> None:
        if stride < 1:
            raise ValueError(f"detect stride must be >= 1, got {stride}")
        self.detector = detector
        self.stride = stride
        self.stats = DetectStats()

    def update(self, frame: Frame) -> Detections | None:
        """Detections for ``frame``, or ``None`` when the stride skips it."""
        n = self.stats.frames
        self.stats.frames += 1
        if n % self.stride:
            return None
        dets, times = self.detector.detect_timed(frame.image)
        s = self.stats
        s.detected += 1
        s.boxes += len(dets)
        s.preprocess_s += times.preprocess
        s.inference_s += times.inference
        s.postprocess_s += times.postprocess
        return dets
