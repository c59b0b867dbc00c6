"""Lines, polygons and the ground homography."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import LineConfig
from edge.errors import ConfigError
from edge.geometry import Homography, Polygon, Segment, point_segment_distance


@pytest.mark.parametrize(
    ("p0", "p1", "point", "side"),
    [
        # Horizontal line drawn left to right: below it (y larger) is the right-hand side, 'in'.
        ((0, 100), (200, 100), (50, 150), 1),
        ((0, 100), (200, 100), (50, 50), -1),
        # Drawn right to left: the sides swap.
        ((200, 100), (0, 100), (50, 150), -1),
        # Vertical line drawn top to bottom: the right-hand side of a walker going down is x smaller.
        ((100, 0), (100, 200), (50, 50), 1),
        ((100, 0), (100, 200), (150, 50), -1),
    ],
)
def test_side_follows_line_config_convention(
    p0: tuple[float, float], p1: tuple[float, float], point: tuple[float, float], side: int
) -> None:
    seg = Segment(p0, p1)
    d = float(seg.signed_distance(np.array([point]))[0])
    assert np.sign(d) == side
    # Same sign as the cross product (p1 - p0) x (x - p0) that LineConfig's docstring names.
    cross = (p1[0] - p0[0]) * (point[1] - p0[1]) - (p1[1] - p0[1]) * (point[0] - p0[0])
    assert np.sign(cross) == side


def test_signed_distance_is_in_pixels_and_along_is_a_fraction() -> None:
    seg = Segment((0, 0), (30, 40))  # length 50
    pts = np.array([[0.0, 0.0], [30.0, 40.0], [15.0, 20.0], [-40.0, 30.0]])
    assert seg.signed_distance(pts).round(6).tolist() == [0.0, 0.0, 0.0, 50.0]
    assert seg.along(pts).round(6).tolist() == [0.0, 1.0, 0.5, 0.0]


def test_zero_length_line_is_a_config_error() -> None:
    line = LineConfig(id="l", camera="c", points=((5, 5), (5, 5)))
    with pytest.raises(ConfigError, match="zero length"):
        Segment(*line.points)


def test_concave_polygon() -> None:
    # A "U" shape: the notch (5, 8) is outside although it is inside the bounding box.
    u = Polygon([(0, 0), (10, 0), (10, 10), (7, 10), (7, 3), (3, 3), (3, 10), (0, 10)])
    got = u.contains(np.array([[1, 9], [5, 8], [5, 1], [9, 9], [11, 5], [-1, 5]]))
    assert got.tolist() == [True, False, True, True, False, False]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=20, max_size=20),
    st.integers(3, 9),
    st.integers(0, 10_000),
)
def test_polygon_agrees_with_opencv(points: list[tuple[float, float]], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # A star-shaped polygon (never self-intersecting) around a random centre.
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    if len(np.unique(angles)) < 3:
        return
    radius = rng.uniform(5, 50, n)
    verts = np.stack([50 + radius * np.cos(angles), 50 + radius * np.sin(angles)], axis=1)
    poly = Polygon(verts)
    pts = np.array(points)
    ours = poly.contains(pts)
    contour = verts.astype(np.float32).reshape(-1, 1, 2)
    for p, inside in zip(pts, ours, strict=True):
        dist = cv2.pointPolygonTest(contour, (float(p[0]), float(p[1])), True)
        if abs(dist) > 1e-3:  # points on an edge may go either way
            assert inside == (dist > 0)


def test_degenerate_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no area"):
        Polygon([(0, 0), (5, 5), (10, 10)])


def test_homography_maps_a_known_perspective() -> None:
    # A road seen in perspective: a 3.5 m x 20 m rectangle as a trapezoid in the image.
    image = [(500, 700), (780, 700), (690, 300), (590, 300)]
    ground = [(0, 0), (3.5, 0), (3.5, 20), (0, 20)]
    h = Homography(image, ground)
    assert h.rms_error_m < 1e-6
    back = h.to_ground(np.array(image, dtype=np.float64))
    np.testing.assert_allclose(back, ground, atol=1e-6)
    # The trapezoid's centre line maps onto the rectangle's centre line.
    mid = h.to_ground(np.array([[640.0, 700.0], [640.0, 300.0]]))
    np.testing.assert_allclose(mid[:, 0], [1.75, 1.75], atol=1e-6)


def test_collinear_calibration_is_refused() -> None:
    with pytest.raises(ConfigError, match="degenerate"):
        Homography([(0, 0), (1, 1), (2, 2), (3, 3)], [(0, 0), (1, 0), (1, 1), (0, 1)])


def test_point_segment_distance() -> None:
    d = point_segment_distance(np.array([[5.0, 3.0], [-4.0, 3.0], [13.0, -6.0]]), (0, 0), (10, 0))
    np.testing.assert_allclose(d, [3.0, 5.0, 6.7082039], atol=1e-6)
