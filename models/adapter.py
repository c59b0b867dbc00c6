"""What every model-family adapter shares: the model's description and the common post-processing.

An adapter turns a frame into the family's input tensor (:meth:`Adapter.preprocess`) and the
family's raw outputs into :class:`~models.detections.Detections` (:meth:`Adapter.postprocess`).
Families differ in tensor layout and box decoding; after decoding they all end in
:meth:`Adapter._finish`: class mapping onto :class:`~models.classes.VehicleClass`, confidence
filter, class-aware NMS, removal of cross-class duplicates among confusable vehicle classes
(see :data:`CONFUSABLE_GROUPS`) and the letterbox un-mapping.
"""

from __future__ import annotations

import ast
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from models.classes import COCO_TO_VEHICLE, VehicleClass, class_map_from_names
from models.detections import Detections
from models.errors import UnsupportedModelError
from models.letterbox import Letterbox, LetterboxMeta, LetterboxSpec
from models.nms import nms

Dim = int | str | None
F32 = npt.NDArray[np.float32]

#: Output strides of the three detection heads of every supported YOLO family.
STRIDES = (8, 16, 32)

#: Classes a COCO detector confuses on one vehicle (a van is both a car and a truck, a coach
#: both a bus and a truck). Class-aware NMS keeps one box per class, so one van became two
#: tracks and was counted twice (+14% on the highway clip). Boxes in the same group that
#: overlap a better one by at least :data:`DUPLICATE_IOU` are dropped as duplicates. Motorcycles
#: are never grouped with people: a rider's box must not remove the motorcycle.
CONFUSABLE_GROUPS: tuple[frozenset[VehicleClass], ...] = (
    frozenset({VehicleClass.CAR, VehicleClass.BUS, VehicleClass.TRUCK}),
    frozenset({VehicleClass.MOTORCYCLE, VehicleClass.BICYCLE}),
)

#: IoU above which two boxes of confusable classes are one vehicle (distinct vehicles, even in a
#: queue, rarely overlap this much in image space).
DUPLICATE_IOU = 0.8


def _group_lut() -> npt.NDArray[np.int64]:
    """VehicleClass value -> group id (classes in no group get a group of their own)."""
    lut = np.arange(len(VehicleClass), dtype=np.int64) + len(CONFUSABLE_GROUPS)
    for g, members in enumerate(CONFUSABLE_GROUPS):
        for c in members:
            lut[int(c)] = g
    return lut


_GROUP = _group_lut()


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One model input or output as onnxruntime reports it."""

    name: str
    shape: tuple[Dim, ...]
    type: str

    def __str__(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}[{dims}] {self.type.removeprefix('tensor(').removesuffix(')')}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model's inputs, outputs and metadata: everything family detection looks at."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line saying what the model has, for error messages."""
        ins = ", ".join(str(t) for t in self.inputs) or "none"
        outs = ", ".join(str(t) for t in self.outputs) or "none"
        return f"inputs {ins}; outputs {outs}"

    def input_size(self, override: tuple[int, int] | None) -> tuple[int, int]:
        """Network input ``(width, height)``: the static shape, else ``override``, else 640x640."""
        if len(self.inputs) != 1:
            raise UnsupportedModelError(f"expected one image input, found {self.describe()}")
        shape = self.inputs[0].shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise UnsupportedModelError(f"expected a 1x3xHxW image input, found {self.describe()}")
        if self.inputs[0].type not in ("tensor(float)", "tensor(float16)"):
            raise UnsupportedModelError(f"expected a float or float16 image input, found {self.describe()}")
        h, w = shape[2], shape[3]
        if isinstance(h, int) and isinstance(w, int):
            if override is not None and override != (w, h):
                raise UnsupportedModelError(
                    f"model input is fixed at {w}x{h} but the config asks for {override[0]}x{override[1]}"
                )
            return (w, h)
        return override or (640, 640)

    def metadata_flag(self, key: str) -> bool:
        """A boolean metadata entry (``"True"``/``"true"``/``"1"``)."""
        return self.metadata.get(key, "").strip().lower() in ("true", "1", "yes")

    def class_names(self) -> dict[int, str] | None:
        """The ``names`` metadata Ultralytics writes (a Python dict literal), if present and valid."""
        raw = self.metadata.get("names")
        if not raw:
            return None
        try:
            names = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
        if isinstance(names, list):
            names = dict(enumerate(names))
        if not isinstance(names, dict) or not all(isinstance(k, int) and isinstance(v, str) for k, v in names.items()):
            return None
        return names


def anchor_count(input_size: tuple[int, int], per_cell: int = 1) -> int:
    """Prediction count of a three-head (stride 8/16/32) YOLO on this input."""
    w, h = input_size
    return per_cell * sum((h // s) * (w // s) for s in STRIDES)


def output_3d(spec: ModelSpec) -> tuple[Dim, Dim] | None:
    """The two trailing dims of a single ``1xAxB`` output, or ``None`` if there is not exactly one."""
    if len(spec.outputs) != 1:
        return None
    shape = spec.outputs[0].shape
    if len(shape) != 3 or (isinstance(shape[0], int) and shape[0] != 1):
        return None
    return shape[1], shape[2]


def resolve_class_map(
    spec: ModelSpec, num_classes: int, configured: Mapping[int, str] | None
) -> dict[int, VehicleClass]:
    """Detector class id -> Simpang class: the config's map, else the model's names, else COCO ids."""
    if configured is not None:
        mapping = {int(k): VehicleClass.from_label(v) for k, v in configured.items()}
        source = "the config class_map"
    elif (names := spec.class_names()) is not None:
        mapping = class_map_from_names(names)
        source = "the model's names metadata"
    elif num_classes == 80:
        mapping = dict(COCO_TO_VEHICLE)
        source = "COCO class ids"
    else:
        raise UnsupportedModelError(
            f"model has {num_classes} classes but no 'names' metadata; set model.class_map in the site file"
        )
    bad = [k for k in mapping if not 0 <= k < num_classes]
    if bad:
        raise UnsupportedModelError(f"class ids {bad} from {source} are outside the model's 0..{num_classes - 1}")
    if not mapping:
        raise UnsupportedModelError(f"none of the model's classes maps onto a Simpang class (using {source})")
    return mapping


class Adapter(ABC):
    """Pre- and post-processing of one model family.

    Subclasses set :attr:`family` and :attr:`letterbox`, and implement :meth:`fits`,
    :meth:`num_classes` and :meth:`postprocess`.
    """

    family: ClassVar[str]
    #: How the family wants its input (everything but the size).
    rgb: ClassVar[bool]
    scale: ClassVar[float]
    centre: ClassVar[bool]

    def __init__(
        self,
        spec: ModelSpec,
        input_size: tuple[int, int],
        class_map: Mapping[int, VehicleClass],
        confidence: float,
        iou: float,
    ) -> None:
        self.spec = spec
        self.input_size = input_size
        self.class_map = dict(class_map)
        self.confidence = float(confidence)
        self.iou = float(iou)
        nc = self.num_classes(spec, input_size)
        # Lookup table: model class id -> VehicleClass value, -1 for classes Simpang drops.
        self._lut = np.full((max(nc, 1),), -1, np.int64)
        for k, v in self.class_map.items():
            self._lut[k] = int(v)
        dtype = np.float16 if spec.inputs[0].type == "tensor(float16)" else np.float32
        self._letterbox = Letterbox(
            LetterboxSpec(size=input_size, rgb=self.rgb, scale=self.scale, centre=self.centre, dtype=dtype)
        )

    @classmethod
    @abstractmethod
    def fits(cls, spec: ModelSpec, input_size: tuple[int, int]) -> bool:
        """Whether this family can decode the model's outputs."""

    @classmethod
    @abstractmethod
    def num_classes(cls, spec: ModelSpec, input_size: tuple[int, int]) -> int:
        """The model's class count, read from its output shape."""

    @classmethod
    def expected(cls) -> str:
        """The output layout this family needs, for error messages."""
        return cls.__doc__.splitlines()[0] if cls.__doc__ else cls.family

    def preprocess(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.floating], LetterboxMeta]:
        """Letterbox a BGR frame into the (reused) input tensor."""
        return self._letterbox(image)

    @abstractmethod
    def postprocess(self, outputs: Sequence[npt.NDArray[np.floating]], meta: LetterboxMeta) -> Detections:
        """Decode raw outputs into frame-space detections of Simpang classes."""

    def _finish(
        self,
        xyxy: F32,
        scores: F32,
        model_class: npt.NDArray[np.integer],
        meta: LetterboxMeta,
        *,
        suppress: bool = True,
    ) -> Detections:
        """Map classes, drop unknown ones and weak scores, run NMS, and un-letterbox.

        ``xyxy`` are network-space boxes; the arrays may already be pre-filtered by the caller.
        """
        vclass = self._lut[model_class]
        keep = (vclass >= 0) & (scores >= self.confidence)
        xyxy, scores, vclass = xyxy[keep], scores[keep], vclass[keep]
        if suppress and len(xyxy):
            idx = nms(xyxy, scores, vclass, self.iou)
            xyxy, scores, vclass = xyxy[idx], scores[idx], vclass[idx]
        if len(xyxy) > 1:
            idx = nms(xyxy, scores, _GROUP[vclass], DUPLICATE_IOU)
            idx.sort()
            xyxy, scores, vclass = xyxy[idx], scores[idx], vclass[idx]
        xyxy = Letterbox.unmap(np.ascontiguousarray(xyxy, dtype=np.float32), meta)
        return Detections(xyxy=xyxy, confidence=scores.astype(np.float32), class_id=vclass)


def objectness_rows(
    out: F32, confidence: float
) -> tuple[npt.NDArray[np.intp], F32, F32, npt.NDArray[np.intp]]:
    """Decode the scores of an ``Nx(5+nc)`` output with objectness (YOLOX, YOLOv5).

    score = objectness x class score <= objectness, so rows are filtered on objectness before
    the class columns are touched: that leaves a few dozen of the thousands of rows.

    Returns:
        The kept row indices, those rows, their best score and their best class.
    """
    cand = np.flatnonzero(out[:, 4] >= confidence)
    rows = out[cand]
    cls_scores = rows[:, 5:] * rows[:, 4:5]
    model_class = cls_scores.argmax(axis=1)
    return cand, rows, cls_scores[np.arange(len(rows)), model_class], model_class


def trailing_classes(spec: ModelSpec, axis: int, boxes: int) -> int:
    """Class count of a single ``1xAxB`` output whose dim ``axis`` (0 = A, 1 = B) holds ``boxes + nc``."""
    dims = output_3d(spec)
    size = None if dims is None else dims[axis]
    if not isinstance(size, int):
        raise UnsupportedModelError(f"no class count in the output shape: found {spec.describe()}")
    return size - boxes


def cxcywh_to_xyxy(b: F32) -> F32:
    """``(N, 4)`` centre-size boxes to corner boxes (new array)."""
    out = np.empty_like(b, dtype=np.float32)
    half = b[:, 2:4] * 0.5
    out[:, :2] = b[:, :2] - half
    out[:, 2:] = b[:, :2] + half
    return out
