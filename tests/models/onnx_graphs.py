"""Tiny ONNX graphs built with the ``onnx`` helper API, for adapter layouts no shipped model has.

Each graph takes a real image input and returns a fixed raw output (plus ``0 * mean(input)``, so
the output depends on the input and onnxruntime cannot fold the input away). They run in real
onnxruntime sessions; only the network's weights are replaced by a known answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_output_model(
    path: Path,
    raw: npt.NDArray[np.float32],
    *,
    input_shape: tuple[int, ...] = (1, 3, 64, 64),
    metadata: dict[str, str] | None = None,
    input_name: str = "images",
    output_name: str = "output0",
) -> Path:
    """Write a model whose output is ``raw`` for any input of ``input_shape``; return ``path``."""
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_detector",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(raw.shape))],
        initializer=[
            numpy_helper.from_array(raw.astype(np.float32), "raw"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
