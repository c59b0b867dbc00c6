"""The model card's scorer: class-aware matching, AP50, recall and precision at a threshold."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.classes import VehicleClass
from models.detections import Detections
from models.errors import ModelError
from models.evaluate import Scorer, evaluate_folder, iou_matrix, read_yolo_folder

CAR, MOTO = int(VehicleClass.CAR), int(VehicleClass.MOTORCYCLE)


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32), a[:, 5].astype(np.int64))


TRUTH = dets([(0, 0, 10, 10, 1, CAR), (20, 20, 30, 30, 1, CAR), (50, 50, 54, 58, 1, MOTO)])


def test_perfect_predictions_score_one() -> None:
    s = Scorer()
    s.add(TRUTH, TRUTH)
    r = s.report(conf=0.5)
    assert r["map50"] == 1.0
    assert r["per_class"]["car"] == {
        "truth": 2,
        "recall_by_height": {"h<16": 1.0, "16<=h<48": None, "h>=48": None},
        "ap50": 1.0,
        "recall": 1.0,
        "precision": 1.0,
    }
    assert r["recall_by_height"] == {"h<16": 1.0, "16<=h<48": None, "h>=48": None}
    assert set(r["per_class"]) == {"car", "motorcycle"}  # classes without truth are not scored


def test_misses_false_alarms_and_wrong_classes() -> None:
    pred = dets(
        [
            (0, 0, 10, 10, 0.9, CAR),  # hit
            (100, 100, 110, 110, 0.95, CAR),  # false alarm, ranked first
            (20, 20, 30, 30, 0.2, CAR),  # hit, but below the operating threshold
            (50, 50, 54, 58, 0.8, CAR),  # right place, wrong class
            (0, 1, 10, 11, 0.85, CAR),  # duplicate of the first truth
        ]
    )
    s = Scorer()
    s.add(pred, TRUTH)
    r = s.report(conf=0.5)
    car = r["per_class"]["car"]
    assert car["recall"] == 0.5
    assert car["precision"] == pytest.approx(1 / 4)
    # Precision envelope: 1/2 up to recall 0.5, then 2/5 up to recall 1.
    assert car["ap50"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.4)
    assert r["per_class"]["motorcycle"]["recall"] == 0.0
    assert r["per_class"]["motorcycle"]["ap50"] == 0.0


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[5, 0, 15, 10]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150], [0.0]])


class _Oracle:
    """Answers with the labels of the image it is shown (looked up by pixel sum)."""

    def __init__(self, answers: dict[int, Detections]) -> None:
        self.answers = answers

    def detect(self, image: np.ndarray) -> Detections:
        return self.answers[int(image.sum())]


def test_folder_round_trip(tmp_path: Path) -> None:
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    image = np.zeros((360, 640, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "images" / "val" / "a.png.jpg"), image)
    (tmp_path / "labels" / "val" / "a.png.txt").write_text("1 0.5 0.5 0.1 0.2\n")
    [(img, truth)] = list(read_yolo_folder(tmp_path))
    np.testing.assert_allclose(truth.xyxy, [[288, 144, 352, 216]], atol=1e-3)
    assert truth.class_id.tolist() == [MOTO]
    report = evaluate_folder(_Oracle({int(img.sum()): truth}), tmp_path)
    assert report["per_class"]["motorcycle"]["recall"] == 1.0
    with pytest.raises(ModelError, match="no images"):
        list(read_yolo_folder(tmp_path, split="train"))
