"""End-to-end exports with NMS inside the graph (Ultralytics ``nms=True``, YOLOv10, YOLO26).

Layout: input ``1x3xHxW`` float **RGB 0..1**, letterboxed centred with padding 114; output
``1xKx6`` (usually K = 300) rows of ``x1, y1, x2, y2, score, class`` in input pixels, already
suppressed. Ultralytics marks such exports with ``end2end: True`` in the metadata.

Example:
    >>> spec = ModelSpec((TensorInfo("images", (1, 3, 640, 640), "tensor(float)"),),
    ...                  (TensorInfo("output0", (1, 300, 6), "tensor(float)"),))
    >>> End2endAdapter.fits(spec, (640, 640)), End2endAdapter.num_classes(spec, (640, 640))
    (True, 80)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from models.adapter import Adapter, ModelSpec, TensorInfo, UltralyticsInput, output_3d
from models.detections import Detections
from models.letterbox import LetterboxMeta

__all__ = ["End2endAdapter", "ModelSpec", "TensorInfo"]

#: More rows than this is not a post-NMS output.
MAX_E2E_ROWS = 1000


class End2endAdapter(UltralyticsInput, Adapter):
    """End-to-end: one output 1xKx6 of x1, y1, x2, y2, score, class (NMS in the graph)."""

    family = "end2end"

    @classmethod
    def fits(cls, spec: ModelSpec, input_size: tuple[int, int]) -> bool:
        dims = output_3d(spec)
        if dims is None or dims[1] != 6:
            return False
        return spec.metadata_flag("end2end") or not isinstance(dims[0], int) or dims[0] <= MAX_E2E_ROWS

    @classmethod
    def num_classes(cls, spec: ModelSpec, input_size: tuple[int, int]) -> int:
        names = spec.class_names()
        # The output does not say how many classes the model has: trust its names, else COCO.
        return max(names) + 1 if names else 80

    def postprocess(self, outputs: Sequence[npt.NDArray[np.floating]], meta: LetterboxMeta) -> Detections:
        out = np.asarray(outputs[0], dtype=np.float32)[0]
        model_class = out[:, 5].astype(np.int64)
        valid = (model_class >= 0) & (model_class < len(self._lut)) & (out[:, 4] >= self.confidence)
        rows = out[valid]
        boxes = np.ascontiguousarray(rows[:, :4])
        # Padded rows and sloppy exports can carry inverted corners; order them.
        boxes[:, [0, 2]] = np.sort(boxes[:, [0, 2]], axis=1)
        boxes[:, [1, 3]] = np.sort(boxes[:, [1, 3]], axis=1)
        return self._finish(boxes, rows[:, 4], model_class[valid], meta, suppress=False)
