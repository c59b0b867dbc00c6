"""onnxruntime sessions: execution-provider choice with fallback, thread settings, and the model's spec.

Example:
    >>> session, providers = open_session(Path("yolox_nano.onnx"), ["CPUExecutionProvider"], 2)  # doctest: +SKIP
    >>> model_spec(session).describe()  # doctest: +SKIP
    'inputs images[1x3x416x416] float; outputs output[1x3549x85] float'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from models.adapter import ModelSpec, TensorInfo
from models.errors import ModelLoadError

log = logging.getLogger(__name__)

#: What onnxruntime raises for a file it cannot use (pybind classes that derive from Exception only).
_ORT_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    *(
        getattr(_ort_state, name)
        for name in ("Fail", "InvalidProtobuf", "NoSuchFile", "InvalidArgument", "InvalidGraph", "RuntimeException", "NotImplemented")
        if hasattr(_ort_state, name)
    ),
    RuntimeError,
    ValueError,
)

#: Short names accepted in configs and on the command line.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
}


def select_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The requested providers that this onnxruntime build has, in order, always ending with CPU.

    A requested provider that is not installed is skipped with a warning rather than failing:
    the same site file then runs on a Jetson (TensorRT) and on a laptop (CPU).

    Example:
        >>> select_providers(["cuda", "cpu"], ["CPUExecutionProvider"])
        ['CPUExecutionProvider']
    """
    chosen: list[str] = []
    for name in requested:
        full = PROVIDER_ALIASES.get(name.strip().lower(), name.strip())
        if full in chosen:
            continue
        if full in available:
            chosen.append(full)
        else:
            log.warning(
                "execution provider %s is not available in this onnxruntime build (available: %s); skipping it",
                full,
                ", ".join(available),
            )
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def open_session(
    path: Path, providers: Sequence[str], intra_op_threads: int = 0, *, spin: bool = False
) -> tuple[Any, list[str]]:
    """An ``onnxruntime.InferenceSession`` for ``path`` and the providers it really uses.

    Raises:
        ModelLoadError: the file is missing, unreadable or not a valid ONNX model.
    """
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"{path}: cannot read model file: {err.strerror or err}") from None
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(intra_op_threads)
    # One frame at a time: parallelism belongs inside operators, not between them.
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # ORT's idle intra-op threads spin by default, burning the cores that the decode thread, the
    # tracker and other cameras need between inferences; on a 2-4 core edge box that costs more
    # than the microseconds a sleeping thread takes to wake.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    chosen = select_providers(providers, ort.get_available_providers())
    try:
        session = ort.InferenceSession(data, sess_options=opts, providers=chosen)
    except _ORT_LOAD_ERRORS as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"{path}: not a usable ONNX model: {first}") from None
    return session, list(session.get_providers())


def model_spec(session: Any) -> ModelSpec:
    """Inputs, outputs and custom metadata of an open session."""

    def info(args: Any) -> tuple[TensorInfo, ...]:
        return tuple(
            TensorInfo(a.name, tuple(d if isinstance(d, int | str) else None for d in a.shape), a.type) for a in args
        )

    meta = session.get_modelmeta()
    return ModelSpec(
        inputs=info(session.get_inputs()),
        outputs=info(session.get_outputs()),
        metadata=dict(meta.custom_metadata_map or {}),
    )
