"""The explicit family -> adapter mapping, and auto-detection from a model's metadata and shapes.

Example:
    >>> spec = ModelSpec((TensorInfo("images", (1, 3, 416, 416), "tensor(float)"),),
    ...                  (TensorInfo("output", (1, 3549, 85), "tensor(float)"),))
    >>> choose_family(spec, "auto", (416, 416)).family
    'yolox'
"""

from __future__ import annotations

from models.adapter import Adapter, ModelSpec, TensorInfo
from models.end2end import End2endAdapter
from models.errors import UnknownModelError, UnsupportedModelError
from models.yolov5 import Yolov5Adapter
from models.yolov8 import Yolov8Adapter
from models.yolox import YoloxAdapter

__all__ = ["FAMILIES", "ModelSpec", "TensorInfo", "choose_family"]

#: Config ``model.family`` -> adapter, in auto-detection order (most specific first).
FAMILIES: dict[str, type[Adapter]] = {
    "end2end": End2endAdapter,
    "yolov8": Yolov8Adapter,
    "yolox": YoloxAdapter,
    "yolov5": Yolov5Adapter,
}


def choose_family(spec: ModelSpec, family: str, input_size: tuple[int, int]) -> type[Adapter]:
    """The adapter for ``family`` (checked against the model), or the one the model's shapes fit.

    Raises:
        UnknownModelError: ``family`` is not a known family name.
        UnsupportedModelError: the model fits no adapter (or not the one asked for), or fits
            several ambiguously; the message says what the model has.
    """
    if family != "auto":
        if family not in FAMILIES:
            raise UnknownModelError(f"unknown model family {family!r} (known: auto, {', '.join(FAMILIES)})")
        adapter = FAMILIES[family]
        if not adapter.fits(spec, input_size):
            raise UnsupportedModelError(
                f"model does not fit family {family!r} ({adapter.expected()}): found {spec.describe()}"
            )
        return adapter
    if spec.metadata_flag("end2end") and End2endAdapter.fits(spec, input_size):
        return End2endAdapter
    fitting = [a for a in FAMILIES.values() if a.fits(spec, input_size)]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        layouts = "; ".join(a.expected() for a in FAMILIES.values())
        raise UnsupportedModelError(f"model fits no supported family ({layouts}): found {spec.describe()}")
    names = ", ".join(a.family for a in fitting)
    raise UnsupportedModelError(
        f"model output could be any of {names} (dynamic shapes): set model.family; found {spec.describe()}"
    )
