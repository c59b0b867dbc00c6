"""The parts of rebuilding a training checkpoint from an ONNX export that need no PyTorch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.errors import ModelError
from models.train import rect_hw
from models.warm_start import calibration_images, onnx_names, onnx_weights

MODEL = Path(__file__).resolve().parents[2] / "models" / "simpang_twin.onnx"

pytest.importorskip("onnx", reason="reading initializers needs the onnx package")


def test_the_committed_model_gives_its_class_names_and_named_weights() -> None:
    assert onnx_names(MODEL) == {0: "car", 1: "motorcycle", 2: "bus", 3: "truck"}
    weights = onnx_weights(MODEL)
    # Every parameter keeps its PyTorch name: a folded conv's weight and bias, by layer.
    assert weights["model.0.conv.weight"].shape == (8, 3, 3, 3)
    assert weights["model.0.conv.bias"].shape == (8,)
    assert all(key.startswith("model.") for key in weights)
    assert sum(w.size for w in weights.values()) > 500_000


def test_a_file_that_is_not_onnx_is_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot read ONNX model"):
        onnx_weights(bad)


def test_calibration_images_are_letterboxed_rgb_in_0_1(tmp_path: Path) -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, :, 2] = 255  # pure red in BGR
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), frame)
    images = calibration_images([tmp_path], rect_hw(640), count=3)
    assert len(images) == 3
    image = images[0]
    assert image.shape == (3, 384, 640)
    assert image.dtype == np.float32
    assert image[0, 192, 320] > 0.95
    assert image[2, 192, 320] < 0.05
    assert image[:, 0, 320] == pytest.approx(114 / 255)  # the letterbox band
    with pytest.raises(ModelError, match="no training images"):
        calibration_images([tmp_path / "empty"], rect_hw(640))


def test_rect_sizes_fit_16_9_frames() -> None:
    assert [rect_hw(n) for n in (640, 480, 320)] == [(384, 640), (288, 480), (192, 320)]
    with pytest.raises(ModelError, match="multiple of 32"):
        rect_hw(500)
