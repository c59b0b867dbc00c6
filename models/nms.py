"""Class-aware non-maximum suppression.

:func:`nms` uses OpenCV's ``cv2.dnn.NMSBoxesBatched`` (C++, class-aware via per-class offsets).
:func:`nms_numpy` is a vectorised NumPy version kept as the reference the tests compare against
and as the baseline of ``python -m benchmarks.vision_nms``, which measured OpenCV faster on the
candidate counts a traffic frame produces (see the README table).

Example:
    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
    >>> nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 1]), 0.5).tolist()
    [0, 2]
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.int64]


def nms(
    xyxy: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], class_ids: npt.NDArray[np.integer], iou: float
) -> IndexArray:
    """Indices of the boxes kept, best score first; boxes of different classes never suppress each other.

    Args:
        xyxy: ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        scores: ``(N,)`` scores; callers filter by confidence before calling.
        class_ids: ``(N,)`` class of each box.
        iou: boxes overlapping a better one of the same class by more than this are dropped.
    """
    if len(xyxy) == 0:
        return np.zeros((0,), np.int64)
    xywh = xyxy.copy()
    xywh[:, 2:] -= xywh[:, :2]
    # OpenCV's stubs say Sequence; the binding takes arrays without copying them into lists.
    keep = cv2.dnn.NMSBoxesBatched(xywh, scores, class_ids.astype(np.int32), 0.0, float(iou))  # type: ignore[arg-type]
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def nms_numpy(
    xyxy: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], class_ids: npt.NDArray[np.integer], iou: float
) -> IndexArray:
    """The same contract as :func:`nms`, in NumPy (greedy, one IoU row per kept box)."""
    if len(xyxy) == 0:
        return np.zeros((0,), np.int64)
    # Offsetting each class far apart makes boxes of different classes disjoint, so one
    # class-agnostic pass is class-aware (the trick torchvision's batched_nms uses).
    offset = class_ids.astype(np.float32)[:, None] * (float(xyxy.max()) + 1.0)
    b = xyxy + offset
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(b[i, 0], b[rest, 0])
        yy1 = np.maximum(b[i, 1], b[rest, 1])
        xx2 = np.minimum(b[i, 2], b[rest, 2])
        yy2 = np.minimum(b[i, 3], b[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (area[i] + area[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)
