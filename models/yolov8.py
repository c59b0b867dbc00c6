"""Ultralytics YOLOv8 / YOLO11 exports without NMS.

Layout: input ``1x3xHxW`` float **RGB 0..1**, letterboxed centred with padding 114; output
``1x(4+nc)xN`` (channels first) with ``N = sum((H/s)*(W/s) for s in 8, 16, 32)`` columns of
``cx, cy, w, h`` in input pixels and ``nc`` class scores (no objectness). Class names are in the
``names`` metadata.

Example:
    >>> spec = ModelSpec((TensorInfo("images", (1, 3, 640, 640), "tensor(float)"),),
    ...                  (TensorInfo("output0", (1, 84, 8400), "tensor(float)"),))
    >>> Yolov8Adapter.fits(spec, (640, 640)), Yolov8Adapter.num_classes(spec, (640, 640))
    (True, 80)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from models.adapter import (
    Adapter,
    ModelSpec,
    TensorInfo,
    anchor_count,
    cxcywh_to_xyxy,
    output_3d,
    trailing_classes,
)
from models.detections import Detections
from models.letterbox import LetterboxMeta

__all__ = ["ModelSpec", "TensorInfo", "Yolov8Adapter"]


class Yolov8Adapter(Adapter):
    """YOLOv8/YOLO11: one output 1x(4+nc)xN, N = grid cells over strides 8/16/32, no objectness."""

    family = "yolov8"
    rgb = True
    scale = 1.0 / 255.0
    centre = True

    @classmethod
    def fits(cls, spec: ModelSpec, input_size: tuple[int, int]) -> bool:
        dims = output_3d(spec)
        if dims is None or not isinstance(dims[0], int) or dims[0] < 5:
            return False
        if isinstance(dims[1], int):
            return dims[1] == anchor_count(input_size)
        return True

    @classmethod
    def num_classes(cls, spec: ModelSpec, input_size: tuple[int, int]) -> int:
        return trailing_classes(spec, axis=0, boxes=4)

    def postprocess(self, outputs: Sequence[npt.NDArray[np.floating]], meta: LetterboxMeta) -> Detections:
        out = np.asarray(outputs[0], dtype=np.float32)[0]
        cls_scores = out[4:]
        # Reduce along the contiguous axis first (channels-first layout), then look only at the
        # few columns above the threshold.
        best = cls_scores.max(axis=0)
        cand = np.flatnonzero(best >= self.confidence)
        model_class = cls_scores[:, cand].argmax(axis=0)
        boxes = np.ascontiguousarray(out[:4, cand].T)
        return self._finish(cxcywh_to_xyxy(boxes), best[cand], model_class, meta)
