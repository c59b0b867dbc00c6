"""The detector stage: stride, statistics and model path resolution, with a real session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.capture import Frame
from edge.clock import Stamp
from edge.config import ModelConfig
from edge.detect import DetectStage, load_detector
from models.errors import ModelLoadError
from tests.models.onnx_graphs import constant_output_model


def _model(folder: Path) -> Path:
    raw = np.zeros((1, 300, 6), np.float32)
    raw[0, 0] = [22, 27, 42, 37, 0.9, 2]  # one COCO car
    return constant_output_model(folder / "e2e.onnx", raw, metadata={"end2end": "True"})


def _frame(i: int) -> Frame:
    return Frame(np.zeros((64, 128, 3), np.uint8), i, Stamp(i / 25, 1000 + i / 25))


@pytest.mark.parametrize(("stride", "detected"), [(1, list(range(7))), (3, [0, 3, 6]), (4, [0, 4])])
def test_stride_detects_every_kth_delivered_frame(tmp_path: Path, stride: int, detected: list[int]) -> None:
    _model(tmp_path)
    stage = DetectStage(load_detector(ModelConfig(path="e2e.onnx"), tmp_path), stride=stride)
    # Indices jump as a live camera's do after drops: the stride counts delivered frames.
    results = [stage.update(_frame(i * 5)) for i in range(7)]
    assert [i for i, r in enumerate(results) if r is not None] == detected
    assert all(len(r) == 1 for r in results if r is not None)
    assert stage.stats.frames == 7
    assert stage.stats.detected == len(detected)
    assert stage.stats.boxes == len(detected)
    assert stage.stats.inference_s > 0


def test_stride_must_be_positive(tmp_path: Path) -> None:
    det = load_detector(ModelConfig(path="e2e.onnx"), tmp_path, path=_model(tmp_path))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        DetectStage(det, stride=0)


def test_relative_model_path_resolves_from_the_site_folder(tmp_path: Path) -> None:
    _model(tmp_path)
    assert load_detector(ModelConfig(path="e2e.onnx"), tmp_path).path == tmp_path / "e2e.onnx"
    with pytest.raises(ModelLoadError, match="model file not found"):
        load_detector(ModelConfig(path="e2e.onnx"), tmp_path / "elsewhere")
