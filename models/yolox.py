"""YOLOX (Megvii) exports with raw head outputs: grid/stride decoding happens here.

Layout: input ``1x3xHxW`` float **BGR 0..255** (no normalisation), the image at the top-left and
padding value 114 to the right and bottom (YOLOX's own ``preproc``); output ``1xNx(5+nc)`` with
``N = sum((H/s)*(W/s) for s in 8, 16, 32)`` rows of ``cx, cy, w, h`` (grid units, before decoding),
objectness and class scores (both already sigmoid). No NMS in the graph.

Example:
    >>> spec = ModelSpec((TensorInfo("images", (1, 3, 416, 416), "tensor(float)"),),
    ...                  (TensorInfo("output", (1, 3549, 85), "tensor(float)"),))
    >>> YoloxAdapter.fits(spec, (416, 416)), YoloxAdapter.num_classes(spec, (416, 416))
    (True, 80)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from models.adapter import (
    STRIDES,
    Adapter,
    ModelSpec,
    TensorInfo,
    anchor_count,
    cxcywh_to_xyxy,
    objectness_rows,
    output_3d,
    trailing_classes,
)
from models.classes import VehicleClass
from models.detections import Detections
from models.letterbox import LetterboxMeta

__all__ = ["ModelSpec", "TensorInfo", "YoloxAdapter"]


class YoloxAdapter(Adapter):
    """YOLOX: one output 1xNx(5+nc), N = anchor-free grid cells over strides 8/16/32."""

    family = "yolox"
    rgb = False
    scale = 1.0
    centre = False

    def __init__(
        self,
        spec: ModelSpec,
        input_size: tuple[int, int],
        class_map: Mapping[int, VehicleClass],
        confidence: float,
        iou: float,
    ) -> None:
        super().__init__(spec, input_size, class_map, confidence, iou)
        w, h = input_size
        grids, strides = [], []
        for s in STRIDES:
            xv, yv = np.meshgrid(np.arange(w // s), np.arange(h // s))
            grids.append(np.stack((xv, yv), axis=2).reshape(-1, 2))
            strides.append(np.full((grids[-1].shape[0], 1), s))
        # Precomputed once: decoding a frame is then two vectorised expressions on the candidates.
        self._grid = np.concatenate(grids).astype(np.float32)
        self._stride = np.concatenate(strides).astype(np.float32)

    @classmethod
    def fits(cls, spec: ModelSpec, input_size: tuple[int, int]) -> bool:
        dims = output_3d(spec)
        if dims is None or not isinstance(dims[1], int) or dims[1] < 6:
            return False
        return not isinstance(dims[0], int) or dims[0] == anchor_count(input_size)

    @classmethod
    def num_classes(cls, spec: ModelSpec, input_size: tuple[int, int]) -> int:
        return trailing_classes(spec, axis=1, boxes=5)

    def postprocess(self, outputs: Sequence[npt.NDArray[np.floating]], meta: LetterboxMeta) -> Detections:
        out = np.asarray(outputs[0], dtype=np.float32)[0]
        if out.shape[0] != self._grid.shape[0]:
            raise ValueError(f"YOLOX output has {out.shape[0]} rows, expected {self._grid.shape[0]}")
        cand, rows, scores, model_class = objectness_rows(out, self.confidence)
        stride = self._stride[cand]
        boxes = np.empty((len(rows), 4), np.float32)
        boxes[:, :2] = (rows[:, :2] + self._grid[cand]) * stride
        boxes[:, 2:] = np.exp(rows[:, 2:4]) * stride
        return self._finish(cxcywh_to_xyxy(boxes), scores, model_class, meta)
