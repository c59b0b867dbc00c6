"""Letterbox geometry and class-aware NMS."""

from __future__ import annotations

import numpy as np
import pytest

from models.letterbox import Letterbox, LetterboxSpec
from models.nms import nms, nms_numpy


@pytest.mark.parametrize(
    ("centre", "frame", "pad"),
    [(True, (720, 1280), (0, 91)), (False, (720, 1280), (0, 0)), (True, (1280, 720), (91, 0))],
)
def test_letterbox_places_the_image_and_pads_with_114(
    centre: bool, frame: tuple[int, int], pad: tuple[int, int]
) -> None:
    lb = Letterbox(LetterboxSpec(size=(416, 416), rgb=False, scale=1.0, centre=centre))
    tensor, meta = lb(np.full((*frame, 3), 200, np.uint8))
    assert (meta.pad_x, meta.pad_y) == pad
    assert meta.scale == pytest.approx(416 / max(frame))
    # Inside the image every value is the pixel's, outside it is the pad value.
    assert tensor[0, :, pad[1] + 5, pad[0] + 5].tolist() == [200.0] * 3
    assert tensor[0, :, 415, 415].tolist() == ([200.0] * 3 if frame[0] == frame[1] else [114.0] * 3)


def test_letterbox_swaps_channels_and_scales_for_rgb_models() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    lb = Letterbox(LetterboxSpec(size=(32, 32), rgb=True, scale=1 / 255, centre=True))
    tensor, _ = lb(image)
    assert tensor[0, :, 0, 0].tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_letterbox_reuses_its_tensor_and_relayouts_on_a_new_size() -> None:
    lb = Letterbox(LetterboxSpec(size=(64, 64), rgb=False, scale=1.0, centre=True))
    t1, m1 = lb(np.zeros((32, 64, 3), np.uint8))
    t2, m2 = lb(np.zeros((64, 32, 3), np.uint8))
    assert t1 is t2
    assert (m1.pad_x, m1.pad_y, m2.pad_x, m2.pad_y) == (0, 16, 16, 0)
    # The old image area is padding again after the re-layout.
    assert t2[0, 0, 0, 0] == 114.0


def test_unmap_inverts_the_letterbox_and_clips_to_the_frame() -> None:
    lb = Letterbox(LetterboxSpec(size=(416, 416), rgb=False, scale=1.0, centre=True))
    _, meta = lb(np.zeros((720, 1280, 3), np.uint8))
    net = np.array([[0.0, 91.0, 208.0, 208.0], [-20.0, 0.0, 430.0, 416.0]], np.float32)
    out = Letterbox.unmap(net.copy(), meta)
    np.testing.assert_allclose(out[0], [0, 0, 640, (208 - 91) / meta.scale], rtol=1e-5)
    np.testing.assert_allclose(out[1], [0, 0, 1280, 720])


@pytest.mark.parametrize("seed", range(5))
def test_opencv_and_numpy_nms_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    xy = rng.uniform(0, 600, (n, 2)).astype(np.float32)
    wh = rng.uniform(10, 120, (n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0.1, 1.0, n).astype(np.float32)
    classes = rng.integers(0, 3, n)
    a, b = nms(boxes, scores, classes, 0.45), nms_numpy(boxes, scores, classes, 0.45)
    assert sorted(a.tolist()) == sorted(b.tolist())
    assert 0 < len(a) < n


def test_nms_never_suppresses_across_classes_and_handles_empty_input() -> None:
    boxes = np.array([[0, 0, 10, 10]] * 2, np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, np.array([0, 1]), 0.1).tolist() == [0, 1]
    assert nms(boxes, scores, np.array([1, 1]), 0.1).tolist() == [0]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5).size == 0
