"""YOLOv5 exports (Ultralytics v5 and compatible): boxes decoded in the graph, objectness kept apart.

Layout: input ``1x3xHxW`` float **RGB 0..1**, letterboxed centred with padding 114; output
``1xNx(5+nc)`` with ``N = 3 * sum((H/s)*(W/s) for s in 8, 16, 32)`` (three anchors per cell) rows of
``cx, cy, w, h`` in input pixels, objectness and class scores. No NMS in the graph.

Example:
    >>> spec = ModelSpec((TensorInfo("images", (1, 3, 640, 640), "tensor(float)"),),
    ...                  (TensorInfo("output0", (1, 25200, 85), "tensor(float)"),))
    >>> Yolov5Adapter.fits(spec, (640, 640)), Yolov5Adapter.num_classes(spec, (640, 640))
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
    objectness_rows,
    output_3d,
    trailing_classes,
)
from models.detections import Detections
from models.letterbox import LetterboxMeta

__all__ = ["ModelSpec", "TensorInfo", "Yolov5Adapter"]


class Yolov5Adapter(Adapter):
    """YOLOv5: one output 1xNx(5+nc), N = 3 anchors per grid cell over strides 8/16/32."""

    family = "yolov5"
    rgb = True
    scale = 1.0 / 255.0
    centre = True

    @classmethod
    def fits(cls, spec: ModelSpec, input_size: tuple[int, int]) -> bool:
        dims = output_3d(spec)
        if dims is None or not isinstance(dims[1], int) or dims[1] < 6:
            return False
        return not isinstance(dims[0], int) or dims[0] == anchor_count(input_size, per_cell=3)

    @classmethod
    def num_classes(cls, spec: ModelSpec, input_size: tuple[int, int]) -> int:
        return trailing_classes(spec, axis=1, boxes=5)

    def postprocess(self, outputs: Sequence[npt.NDArray[np.floating]], meta: LetterboxMeta) -> Detections:
        out = np.asarray(outputs[0], dtype=np.float32)[0]
        _, rows, scores, model_class = objectness_rows(out, self.confidence)
        return self._finish(cxcywh_to_xyxy(rows[:, :4]), scores, model_class, meta)
