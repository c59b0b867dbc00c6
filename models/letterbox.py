"""Letterbox a camera frame into a network input tensor without per-frame allocations.

Every detector family here takes a square (or fixed) input; a 16:9 camera frame is scaled to fit
and the rest is padded. The families differ only in details (where the image sits, channel order,
value scale), captured by :class:`LetterboxSpec`. :class:`Letterbox` owns one preallocated NCHW
tensor: the padding is written once per frame size, and each frame costs one ``cv2.resize`` into a
preallocated buffer plus one fused transpose-scale-cast into the tensor.

Example:
    >>> lb = Letterbox(LetterboxSpec(size=(416, 416), rgb=False, scale=1.0, centre=False))
    >>> tensor, meta = lb(np.zeros((720, 1280, 3), np.uint8))
    >>> tensor.shape, round(meta.scale, 4), (meta.pad_x, meta.pad_y)
    ((1, 3, 416, 416), 0.325, (0, 0))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class LetterboxSpec:
    """How a family wants its input.

    Attributes:
        size: network input ``(width, height)``.
        rgb: ``True`` to feed RGB (Ultralytics), ``False`` for BGR (YOLOX).
        scale: multiplier applied to 0..255 pixel values (``1/255`` or ``1.0``).
        centre: ``True`` pads both sides equally (Ultralytics); ``False`` puts the image at the
            top-left and pads right/bottom only (YOLOX's own pre-processing).
        pad_value: value of the padding, in 0..255 pixel units (114 for all YOLO families).
        dtype: tensor element type (``float32`` or ``float16``).
    """

    size: tuple[int, int]
    rgb: bool
    scale: float
    centre: bool
    pad_value: float = 114.0
    dtype: type[np.floating] = np.float32


@dataclass(frozen=True, slots=True)
class LetterboxMeta:
    """What maps network coordinates back to the frame: ``frame = (net - pad) / scale``."""

    scale: float
    pad_x: int
    pad_y: int
    frame_width: int
    frame_height: int


class Letterbox:
    """Scale-and-pad a BGR uint8 frame into a reused NCHW tensor.

    The returned tensor is the same object on every call and is overwritten by the next call;
    run the model on it before preprocessing the next frame.
    """

    def __init__(self, spec: LetterboxSpec) -> None:
        self.spec = spec
        w, h = spec.size
        self._tensor: npt.NDArray[np.floating] = np.empty((1, 3, h, w), dtype=spec.dtype)
        self._frame_shape: tuple[int, int] | None = None
        self._resized: npt.NDArray[np.uint8] = np.empty((0, 0, 3), np.uint8)
        self._meta = LetterboxMeta(1.0, 0, 0, 0, 0)
        self._scale = spec.dtype(spec.scale)

    def _layout(self, fh: int, fw: int) -> None:
        """Compute placement and write the padding for a new frame size (rare: once per stream)."""
        w, h = self.spec.size
        r = min(w / fw, h / fh)
        nw, nh = max(1, round(fw * r)), max(1, round(fh * r))
        if self.spec.centre:
            px, py = (w - nw) // 2, (h - nh) // 2
        else:
            px, py = 0, 0
        self._tensor.fill(self.spec.pad_value * self.spec.scale)
        self._resized = np.empty((nh, nw, 3), np.uint8)
        self._meta = LetterboxMeta(scale=r, pad_x=px, pad_y=py, frame_width=fw, frame_height=fh)
        self._frame_shape = (fh, fw)

    def __call__(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.floating], LetterboxMeta]:
        """Letterbox ``image`` (HxWx3 uint8 BGR) into the tensor; return it with its mapping."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 BGR image, got shape {image.shape}")
        fh, fw = image.shape[:2]
        if self._frame_shape != (fh, fw):
            self._layout(fh, fw)
        m = self._meta
        nh, nw = self._resized.shape[:2]
        if (nh, nw) == (fh, fw):
            resized = image
        else:
            # INTER_LINEAR matches the training pipelines of every supported family.
            resized = np.asarray(
                cv2.resize(image, (nw, nh), dst=self._resized, interpolation=cv2.INTER_LINEAR), dtype=np.uint8
            )
        chw = resized.transpose(2, 0, 1)
        if self.spec.rgb:
            chw = chw[::-1]
        region = self._tensor[0, :, m.pad_y : m.pad_y + nh, m.pad_x : m.pad_x + nw]
        # One pass: uint8 HWC -> float CHW, scaled, written in place into the padded tensor.
        np.multiply(chw, self._scale, out=region, dtype=self._tensor.dtype, casting="unsafe")
        return self._tensor, m

    @staticmethod
    def unmap(xyxy: npt.NDArray[np.float32], meta: LetterboxMeta) -> npt.NDArray[np.float32]:
        """Map ``(N, 4)`` network-space boxes back to frame pixels, clipped to the frame (in place)."""
        xyxy[:, 0::2] -= meta.pad_x
        xyxy[:, 1::2] -= meta.pad_y
        xyxy /= meta.scale
        np.clip(xyxy[:, 0::2], 0, meta.frame_width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, meta.frame_height, out=xyxy[:, 1::2])
        return xyxy
