"""Detector loading, family choice and decoding, with real onnxruntime sessions."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.config import ModelConfig
from models.classes import VehicleClass
from models.detector import Detector
from models.errors import ModelLoadError, UnknownModelError, UnsupportedModelError
from models.registry import choose_family
from tests.helpers import shared_file
from tests.models.onnx_graphs import constant_output_model

CAR, MOTO = int(VehicleClass.CAR), int(VehicleClass.MOTORCYCLE)


def _frame_2to1() -> npt.NDArray[np.uint8]:
    # 128x64 into a 64x64 input: scale 0.5, image 64x32, centred padding of 16 rows above.
    return np.full((64, 128, 3), 80, np.uint8)


def _yolov5_raw() -> npt.NDArray[np.float32]:
    rows = 3 * (8 * 8 + 4 * 4 + 2 * 2)  # three anchors per cell, strides 8/16/32 on 64x64
    raw = np.zeros((1, rows, 85), np.float32)
    raw[0, 0, [0, 1, 2, 3, 4, 5 + 2]] = [32, 32, 20, 10, 0.9, 0.9]  # car, score 0.81
    raw[0, 1, [0, 1, 2, 3, 4, 5 + 2]] = [33, 32, 20, 10, 0.8, 0.9]  # same car again, suppressed
    raw[0, 2, [0, 1, 2, 3, 4, 5 + 3]] = [32, 32, 20, 10, 0.9, 0.5]  # motorcycle there: other class, kept
    raw[0, 3, [0, 1, 2, 3, 4, 5 + 9]] = [10, 40, 4, 8, 0.9, 0.9]  # traffic light: not a Simpang class
    raw[0, 4, [0, 1, 2, 3, 4, 5 + 2]] = [50, 40, 8, 8, 0.2, 0.9]  # weak car, below confidence
    raw[0, 5, [0, 1, 2, 3, 4, 5 + 7]] = [32, 32, 20, 10, 0.9, 0.7]  # the car seen as a truck: duplicate
    raw[0, 6, [0, 1, 2, 3, 4, 5 + 0]] = [32, 31, 20, 12, 0.9, 0.4]  # a person there (rider): kept
    return raw


def test_yolov5_graph_is_detected_decoded_and_suppressed_per_class(tmp_path: Path) -> None:
    path = constant_output_model(tmp_path / "v5.onnx", _yolov5_raw())
    det = Detector.load(path, ModelConfig(path=str(path), confidence=0.25, iou=0.5))
    assert det.family == "yolov5"
    assert det.input_size == (64, 64)
    d = det.detect(_frame_2to1())
    # Car kept; its weaker twin (same class) and its truck reading (confusable class, IoU 1) dropped;
    # the motorcycle and the person on the same spot are other road users and stay.
    assert d.class_id.tolist() == [CAR, MOTO, int(VehicleClass.PERSON)]
    np.testing.assert_allclose(d.confidence, [0.81, 0.45, 0.36], rtol=1e-5)
    # Network box (22, 27, 42, 37) -> frame: minus padding (0, 16), divided by 0.5.
    np.testing.assert_allclose(d.xyxy[0], [44, 22, 84, 42], atol=1e-4)


def test_end2end_graph_uses_names_metadata_and_keeps_overlaps(tmp_path: Path) -> None:
    raw = np.zeros((1, 300, 6), np.float32)
    raw[0, 0] = [22, 27, 42, 37, 0.9, 0]  # car
    raw[0, 1] = [26, 27, 46, 37, 0.8, 0]  # car overlapping by IoU 0.67: the graph already ran NMS, keep it
    raw[0, 2] = [0, 16, 10, 26, 0.9, 2]  # tree
    raw[0, 3] = [10, 20, 20, 30, 0.6, 1]  # motorbike
    meta = {"end2end": "True", "names": "{0: 'car', 1: 'motorbike', 2: 'tree'}"}
    path = constant_output_model(tmp_path / "e2e.onnx", raw, metadata=meta)
    det = Detector.load(path, ModelConfig(path=str(path), confidence=0.25))
    assert det.family == "end2end"
    assert det.class_map == {0: VehicleClass.CAR, 1: VehicleClass.MOTORCYCLE}
    d = det.detect(_frame_2to1())
    assert d.class_id.tolist() == [CAR, CAR, MOTO]
    np.testing.assert_allclose(d.xyxy[0], [44, 22, 84, 42], atol=1e-4)
    np.testing.assert_allclose(d.xyxy[2], [20, 8, 40, 28], atol=1e-4)


def test_config_class_map_overrides_names(tmp_path: Path) -> None:
    raw = np.zeros((1, 300, 6), np.float32)
    raw[0, 0] = [22, 27, 42, 37, 0.9, 2]
    meta = {"end2end": "True", "names": "{0: 'car', 1: 'motorbike', 2: 'tree'}"}
    path = constant_output_model(tmp_path / "e2e.onnx", raw, metadata=meta)
    det = Detector.load(path, ModelConfig(path=str(path), class_map={2: "truck"}))
    assert det.detect(_frame_2to1()).class_id.tolist() == [int(VehicleClass.TRUCK)]


@pytest.mark.parametrize(
    ("raw_shape", "input_shape", "found"),
    [
        ((1, 7, 3), (1, 3, 64, 64), "output0[1x7x3]"),
        ((1, 252, 85), (1, 1, 64, 64), "images[1x1x64x64]"),
        ((2, 3, 4, 5), (1, 3, 64, 64), "output0[2x3x4x5]"),
    ],
)
def test_model_fitting_no_adapter_is_refused_saying_what_it_has(
    tmp_path: Path, raw_shape: tuple[int, ...], input_shape: tuple[int, ...], found: str
) -> None:
    path = constant_output_model(tmp_path / "odd.onnx", np.zeros(raw_shape, np.float32), input_shape=input_shape)
    with pytest.raises(UnsupportedModelError, match=r"found .*" + found.replace("[", r"\[").replace("]", r"\]")):
        Detector.load(path, ModelConfig(path=str(path)))


def test_explicit_family_must_fit_the_model(tmp_path: Path) -> None:
    path = constant_output_model(tmp_path / "v5.onnx", _yolov5_raw())
    with pytest.raises(UnsupportedModelError, match=r"does not fit family 'yolox'"):
        Detector.load(path, ModelConfig(path=str(path), family="yolox"))


def test_unknown_family_from_code_is_refused(tmp_path: Path) -> None:
    path = constant_output_model(tmp_path / "v5.onnx", _yolov5_raw())
    det = Detector.load(path, ModelConfig(path=str(path)))
    with pytest.raises(UnknownModelError, match="unknown model family 'detr'"):
        choose_family(det.spec, "detr", det.input_size)


def test_unknown_class_count_without_names_needs_a_class_map(tmp_path: Path) -> None:
    raw = np.zeros((1, 252, 5 + 3), np.float32)
    path = constant_output_model(tmp_path / "v5c3.onnx", raw)
    with pytest.raises(UnsupportedModelError, match=r"set model\.class_map"):
        Detector.load(path, ModelConfig(path=str(path)))
    det = Detector.load(path, ModelConfig(path=str(path), class_map={0: "car", 1: "motorcycle"}))
    assert det.class_map == {0: VehicleClass.CAR, 1: VehicleClass.MOTORCYCLE}


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", b"\x08\x07" * 100])
def test_unreadable_model_file_is_a_load_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"broken\.onnx: not a usable ONNX model"):
        Detector.load(path, ModelConfig(path=str(path)))


def test_missing_model_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model file not found"):
        Detector.load(tmp_path / "nope.onnx", ModelConfig(path="nope.onnx"))


def test_unavailable_provider_falls_back_to_cpu_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = constant_output_model(tmp_path / "v5.onnx", _yolov5_raw())
    with caplog.at_level(logging.WARNING, logger="models.session"):
        det = Detector.load(path, ModelConfig(path=str(path), providers=["NoSuchExecutionProvider", "cpu"]))
    assert det.providers == ["CPUExecutionProvider"]
    assert "NoSuchExecutionProvider is not available" in caplog.text


def test_warm_up_runs_at_load(tmp_path: Path) -> None:
    path = constant_output_model(tmp_path / "v5.onnx", _yolov5_raw())
    det = Detector.load(path, ModelConfig(path=str(path)), warmup_runs=3)
    assert len(det.warmup_s) == 3
    assert all(s > 0 for s in det.warmup_s)


def _highway_frame(index: int = 200) -> npt.NDArray[np.uint8]:
    cap = cv2.VideoCapture(str(shared_file("highway_uk_720p.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok
    return np.asarray(image, dtype=np.uint8)


# Frame 200 of the highway clip: a red hatchback in the left carriageway near the camera.
RED_CAR = (440.0, 590.0)


@pytest.mark.parametrize(("model", "family"), [("yolox_nano.onnx", "yolox"), ("yolov8n_coco_int8.onnx", "yolov8")])
def test_real_coco_models_find_the_red_car(model: str, family: str) -> None:
    path = shared_file(model)
    det = Detector.load(path, ModelConfig(path=str(path), intra_op_threads=2, confidence=0.3), warmup_runs=1)
    assert det.family == family
    d = det.detect(_highway_frame())
    x, y = RED_CAR
    hit = (d.xyxy[:, 0] < x) & (x < d.xyxy[:, 2]) & (d.xyxy[:, 1] < y) & (y < d.xyxy[:, 3])
    assert hit.sum() == 1, d.xyxy
    assert d.class_id[hit][0] == CAR
    assert d.confidence[hit][0] > 0.6
    box = d.xyxy[hit][0]
    # The car is about 115x105 px; a letterbox or decoding slip would show as a shifted or scaled box.
    assert 90 < box[2] - box[0] < 140
    assert 85 < box[3] - box[1] < 130
    assert len(d) >= 4
    assert np.all(d.xyxy[:, 2] <= 1280)
    assert np.all(d.xyxy[:, 3] <= 720)
