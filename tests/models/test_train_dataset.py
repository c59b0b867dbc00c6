"""Twin dataset generation (YOLO layout and label geometry) and the train command's guards.

Training itself needs the ``train`` extra (ultralytics) and an hour: it is not tested here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.commands import main
from models.dataset import NAMES, Recipe, held_out_recipe, write_dataset, yolo_lines
from models.errors import ModelError
from models.train import combine_datasets

pytest.importorskip("libsumo", reason="the digital twin needs the bench extra (libsumo)")


def test_yolo_lines_are_normalised_centre_boxes() -> None:
    xyxy = np.array([[64, 36, 192, 108], [0, 0, 640, 360]], np.float32)
    lines = yolo_lines(xyxy, np.array([3, 0]), (640, 360))
    assert lines == ["3 0.200000 0.200000 0.200000 0.200000", "0 0.500000 0.500000 1.000000 1.000000"]
    # Classes the detector does not learn (bicycle, person) are left out.
    assert yolo_lines(xyxy[:1], np.array([5]), (640, 360)) == []


def test_episodes_are_deterministic_and_split_whole() -> None:
    r = replace(Recipe(), episodes=10, seed=7)
    a, b = r.draw_episodes(), r.draw_episodes()
    assert a == b
    assert [e.split for e in a].count("val") == 1
    assert len({e.seed for e in a}) == 10
    held = held_out_recipe().draw_episodes()
    assert {e.lighting for e in held} == {"afternoon"}
    assert not {e.seed for e in held} & {e.seed for e in Recipe().draw_episodes()}
    assert all(e.demand > Recipe().demand[1] for e in held)


def test_dataset_images_and_labels_line_up(tmp_path: Path) -> None:
    recipe = replace(Recipe(), episodes=2, frames_per_episode=2, stride_s=1.0, val_fraction=0.5, seed=5)
    counts = write_dataset(tmp_path / "ds", recipe)
    assert counts == {"train": 2, "val": 2}
    ds = tmp_path / "ds"
    images = sorted((ds / "images").rglob("*.jpg"))
    assert len(images) == 4
    boxes = 0
    for img_path in images:
        label = ds / "labels" / img_path.parent.name / (img_path.stem + ".txt")
        image = cv2.imread(str(img_path))
        assert image is not None
        assert image.shape == (360, 640, 3)
        for line in label.read_text().splitlines():
            cls, cx, cy, w, h = line.split()
            assert int(cls) in NAMES
            vals = np.array([cx, cy, w, h], dtype=float)
            assert ((vals >= 0) & (vals <= 1)).all()
            assert float(w) * 640 >= recipe.min_side_px - 1e-6
            assert float(h) * 360 >= recipe.min_side_px - 1e-6
            boxes += 1
    assert boxes > 5
    data = (ds / "data.yaml").read_text()
    assert "train: images/train" in data
    assert "1: motorcycle" in data
    manifest = json.loads((ds / "manifest.json").read_text())
    assert manifest["images"] == counts
    assert len(manifest["episodes"]) == 2
    # Nothing is overwritten.
    with pytest.raises(ModelError, match="not empty"):
        write_dataset(ds, recipe)
    # Several folders combine into one Ultralytics data file.
    combined = combine_datasets([ds, ds], tmp_path / "run.data.yaml").read_text()
    assert combined.count("images/train") == 2
    assert "3: truck" in combined


def test_combine_refuses_a_folder_without_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no dataset"):
        combine_datasets([tmp_path], tmp_path / "x.yaml")


def test_dataset_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "dataset", "--out", str(tmp_path / "d"), "--episodes", "1", "--frames", "1", "--held-out"]) == 0
    assert "0 training and 1 validation images" in capsys.readouterr().out
    assert main(["model", "dataset", "--out", str(tmp_path / "d"), "--episodes", "1", "--frames", "1"]) == 1
    assert "not empty" in capsys.readouterr().err


def test_train_command_without_the_extra_or_data_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "train", "--data", str(tmp_path), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "simpang: error: no dataset" in capsys.readouterr().err
