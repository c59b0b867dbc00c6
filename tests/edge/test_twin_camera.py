"""The twin's pinhole camera: projection, ground homography, near-plane clipping."""

from __future__ import annotations

import numpy as np
import pytest

from edge.twin.camera import NEAR_M, PinholeCamera, clip_near, pole_camera


def test_target_projects_to_the_image_centre() -> None:
    cam = PinholeCamera.looking_at((10.0, -30.0, 9.0), (10.0, 0.0, 0.0), hfov_deg=70, size=(640, 360))
    uv, ok = cam.project(np.array([[10.0, 0.0, 0.0]]))
    assert ok[0]
    np.testing.assert_allclose(uv[0], [320.0, 180.0], atol=1e-6)


def test_axes_follow_opencv_right_and_down() -> None:
    cam = PinholeCamera.looking_at((0.0, -30.0, 9.0), (0.0, 0.0, 0.0), hfov_deg=70, size=(640, 360))
    uv, _ = cam.project(np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 3.0]]))
    assert uv[0, 0] > 320.0  # east of the target is to the right when looking north
    assert uv[1, 1] < 180.0  # higher up is higher in the image


def test_field_of_view_sets_the_focal_length() -> None:
    cam = PinholeCamera.looking_at((0.0, -30.0, 0.0), (0.0, 0.0, 0.0), hfov_deg=90, size=(640, 360))
    assert cam.focal_px == pytest.approx(320.0)
    # A point 45 degrees to the right lands on the right edge.
    uv, _ = cam.project(np.array([[10.0, -20.0, 0.0]]))
    assert uv[0, 0] == pytest.approx(640.0)


@pytest.mark.parametrize("corner", [45.0, 135.0, 225.0, 315.0])
def test_ground_homography_round_trips(corner: float) -> None:
    cam = pole_camera((300.0, 300.0), corner_deg=corner, distance_m=30, height_m=12, hfov_deg=88)
    ground = np.array([[300.0, 300.0], [310.0, 295.0], [290.0, 320.0], [305.0, 305.0]])
    uv = cam.ground_to_image(ground)
    np.testing.assert_allclose(cam.image_to_ground(uv), ground, atol=1e-6)
    # The homography agrees with the full projection.
    h = cam.ground_homography()
    q = np.c_[ground, np.ones(len(ground))] @ h.T
    np.testing.assert_allclose(q[:, :2] / q[:, 2:], uv, atol=1e-6)


def test_pole_camera_sees_the_junction() -> None:
    cam = pole_camera((0.0, 0.0), corner_deg=225.0, distance_m=30, height_m=12, hfov_deg=88)
    assert cam.position[2] == pytest.approx(12.0)
    uv, ok = cam.project(np.array([[0.0, 0.0, 0.0]]))
    w, h = cam.size
    assert ok[0]
    assert 0 < uv[0, 0] < w
    assert 0 < uv[0, 1] < h


def test_clip_near_cuts_what_lies_behind() -> None:
    square = np.array([[-1.0, 0.0, -5.0], [1.0, 0.0, -5.0], [1.0, 0.0, 5.0], [-1.0, 0.0, 5.0]])
    clipped = clip_near(square)
    assert (clipped[:, 2] >= NEAR_M - 1e-9).all()
    assert len(clipped) == 4
    assert clip_near(square - [0.0, 0.0, 20.0]).shape == (0, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hfov_deg": 5.0}, "field of view"),
        ({"target": (0.0, 0.0, 20.0), "position": (0.0, 0.0, 20.0)}, "coincides"),
        ({"target": (0.0, 0.0, 0.0), "position": (0.0, 0.0, 20.0)}, "straight"),
    ],
)
def test_bad_cameras_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"position": (0.0, -30.0, 9.0), "target": (0.0, 0.0, 0.0), "hfov_deg": 70.0, "size": (640, 360)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        PinholeCamera.looking_at(**args)  # type: ignore[arg-type]
