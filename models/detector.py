"""A loaded, warmed-up detector: an onnxruntime session plus the adapter of its family.

Example:
    >>> det = Detector.load(Path("yolox_nano.onnx"), ModelConfig(path="yolox_nano.onnx"))  # doctest: +SKIP
    >>> det.family, det.input_size  # doctest: +SKIP
    ('yolox', (416, 416))
    >>> dets = det.detect(frame_bgr)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.config import ModelConfig
from models.adapter import Adapter, ModelSpec, resolve_class_map
from models.classes import VehicleClass
from models.detections import Detections
from models.errors import ModelError
from models.letterbox import LetterboxMeta
from models.registry import choose_family
from models.session import model_spec, open_session

log = logging.getLogger(__name__)

Tensor = npt.NDArray[np.floating]


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds spent in each detector step for one frame."""

    preprocess: float
    inference: float
    postprocess: float

    @property
    def total(self) -> float:
        """All three steps."""
        return self.preprocess + self.inference + self.postprocess


class Detector:
    """Run one ONNX detector on BGR frames and return :class:`Detections` of Simpang classes.

    Build it with :meth:`load`. ``detect`` is not thread-safe (the input tensor is reused);
    give each thread its own detector.

    Attributes:
        path: the model file.
        spec: the model's inputs, outputs and metadata.
        family: the adapter family in use (``"yolox"``, ``"yolov8"``, ...).
        providers: execution providers the session really uses, in priority order.
        input_size: network input ``(width, height)``.
        class_map: detector class id -> Simpang class.
        warmup_s: seconds each warm-up run took at load (the first is the slow one).
    """

    def __init__(self, path: Path, session: Any, adapter: Adapter, providers: list[str]) -> None:
        self.path = path
        self.spec: ModelSpec = adapter.spec
        self._session = session
        self._adapter = adapter
        self._input_name = adapter.spec.inputs[0].name
        self._output_names = [o.name for o in adapter.spec.outputs]
        self.providers = providers
        self.warmup_s: list[float] = []

    @property
    def family(self) -> str:
        """The adapter family in use."""
        return self._adapter.family

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input ``(width, height)``."""
        return self._adapter.input_size

    @property
    def class_map(self) -> dict[int, VehicleClass]:
        """Detector class id -> Simpang class."""
        return dict(self._adapter.class_map)

    @classmethod
    def load(cls, path: Path, config: ModelConfig, *, warmup_runs: int = 2) -> Detector:
        """Open ``path`` with the settings of ``config``, pick the adapter, and warm it up.

        Raises:
            ModelLoadError: the file is missing, unreadable or not ONNX.
            UnsupportedModelError: its inputs/outputs fit no adapter (the message says what it has).
            UnknownModelError: ``config.family`` names no known family.
        """
        session, providers = open_session(path, config.providers, config.intra_op_threads)
        spec = model_spec(session)
        try:
            input_size = spec.input_size(config.input_size)
            adapter_cls = choose_family(spec, config.family, input_size)
            class_map = resolve_class_map(spec, adapter_cls.num_classes(spec, input_size), config.class_map)
            adapter = adapter_cls(spec, input_size, class_map, config.confidence, config.iou)
        except ModelError as err:
            raise type(err)(f"{path}: {err}") from None
        det = cls(path, session, adapter, providers)
        det.warm_up(warmup_runs)
        log.info(
            "loaded %s: family %s, input %dx%d, providers %s, warm-up %s s",
            path.name,
            det.family,
            *input_size,
            ",".join(providers),
            ",".join(f"{s:.3f}" for s in det.warmup_s),
        )
        return det

    def warm_up(self, runs: int) -> None:
        """Run the model on a blank frame ``runs`` times.

        The first run of an onnxruntime session allocates its memory arena and picks kernels
        (CUDA/TensorRT even build engines then), which costs several times a normal frame. Doing
        it at load keeps that cost out of the first real frames, where it would back up a live
        camera and skew the measured throughput.
        """
        w, h = self.input_size
        blank = np.full((h, w, 3), 114, np.uint8)
        for _ in range(runs):
            t0 = time.perf_counter()
            self.detect(blank)
            self.warmup_s.append(time.perf_counter() - t0)

    def preprocess(self, image: npt.NDArray[np.uint8]) -> tuple[Tensor, LetterboxMeta]:
        """Letterbox a BGR frame into the reused input tensor."""
        return self._adapter.preprocess(image)

    def infer(self, tensor: Tensor) -> Sequence[Tensor]:
        """Run the session on a prepared tensor; return the raw outputs."""
        outputs: Sequence[Tensor] = self._session.run(self._output_names, {self._input_name: tensor})
        return outputs

    def postprocess(self, outputs: Sequence[Tensor], meta: LetterboxMeta) -> Detections:
        """Decode raw outputs into frame-space detections."""
        return self._adapter.postprocess(outputs, meta)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Detections of Simpang classes in one BGR frame."""
        tensor, meta = self.preprocess(image)
        return self.postprocess(self.infer(tensor), meta)

    def detect_timed(self, image: npt.NDArray[np.uint8]) -> tuple[Detections, StageTimes]:
        """:meth:`detect`, also returning the seconds spent in each step."""
        t0 = time.perf_counter()
        tensor, meta = self.preprocess(image)
        t1 = time.perf_counter()
        outputs = self.infer(tensor)
        t2 = time.perf_counter()
        dets = self.postprocess(outputs, meta)
        t3 = time.perf_counter()
        return dets, StageTimes(t1 - t0, t2 - t1, t3 - t2)
