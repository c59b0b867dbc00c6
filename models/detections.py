"""The one container of detections that every stage passes on.

A struct of arrays (as in *supervision*): parallel NumPy arrays, validated at construction, so a
stage can never receive boxes and scores of different lengths or classes outside the enum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.classes import NUM_CLASSES

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _empty_f(shape: tuple[int, ...]) -> FloatArray:
    return np.zeros(shape, dtype=np.float32)


def _empty_i() -> IntArray:
    return np.zeros((0,), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes found in one frame, in full-frame pixel coordinates.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes ``x1, y1, x2, y2`` with ``x2 >= x1`` and ``y2 >= y1``.
        confidence: ``(N,)`` float32 scores in ``[0, 1]``.
        class_id: ``(N,)`` int64 :class:`~models.classes.VehicleClass` values.
        tracker_id: ``(N,)`` int64 track ids, or ``None`` before tracking.

    Example:
        >>> d = Detections(xyxy=np.array([[0, 0, 10, 10]], np.float32),
        ...                confidence=np.array([0.9], np.float32), class_id=np.array([0]))
        >>> len(d), d.anchors().tolist()
        (1, [[5.0, 10.0]])
    """

    xyxy: FloatArray = field(default_factory=lambda: _empty_f((0, 4)))
    confidence: FloatArray = field(default_factory=lambda: _empty_f((0,)))
    class_id: IntArray = field(default_factory=_empty_i)
    tracker_id: IntArray | None = None

    def __post_init__(self) -> None:
        # Coerce dtypes once here so that every consumer can rely on them.
        object.__setattr__(self, "xyxy", np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4))
        object.__setattr__(self, "confidence", np.asarray(self.confidence, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int64).reshape(-1))
        n = self.xyxy.shape[0]
        if self.confidence.shape[0] != n or self.class_id.shape[0] != n:
            raise ValueError(
                f"Detections arrays disagree: xyxy {n}, confidence {self.confidence.shape[0]}, "
                f"class_id {self.class_id.shape[0]}"
            )
        if self.tracker_id is not None:
            tid = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
            if tid.shape[0] != n:
                raise ValueError(f"Detections tracker_id has {tid.shape[0]} entries for {n} boxes")
            object.__setattr__(self, "tracker_id", tid)
        if n:
            if not np.all(np.isfinite(self.xyxy)):
                raise ValueError("Detections xyxy holds NaN or infinite values")
            if np.any(self.xyxy[:, 2] < self.xyxy[:, 0]) or np.any(self.xyxy[:, 3] < self.xyxy[:, 1]):
                raise ValueError("Detections xyxy must have x2 >= x1 and y2 >= y1")
            if np.any(self.class_id < 0) or np.any(self.class_id >= NUM_CLASSES):
                raise ValueError(f"Detections class_id outside 0..{NUM_CLASSES - 1}")

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice) -> Detections:
        """Select a subset by boolean mask, index array or slice."""
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
        )

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls()

    def with_tracker_id(self, tracker_id: IntArray) -> Detections:
        """A copy carrying ``tracker_id``."""
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id)

    def anchors(self) -> FloatArray:
        """``(N, 2)`` bottom-centre points, where a vehicle touches the road."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    def centers(self) -> FloatArray:
        """``(N, 2)`` box centres."""
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5, (self.xyxy[:, 1] + self.xyxy[:, 3]) * 0.5], axis=1
        ).astype(np.float32)

    def area(self) -> FloatArray:
        """``(N,)`` box areas in square pixels."""
        return ((self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])).astype(np.float32)

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """Join several containers; tracker ids are kept only if every part has them."""
        if not parts:
            return cls()
        tids = [p.tracker_id for p in parts]
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=None if any(t is None for t in tids) else np.concatenate([t for t in tids if t is not None]),
        )
