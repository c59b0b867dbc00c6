"""The twin's rasteriser: ground-truth boxes line up with the pixels it paints."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge.twin.camera import pole_camera
from edge.twin.render import LIGHTING, Renderer
from edge.twin.scene import TEMPLATES, build_scene
from edge.twin.truth import FrameTruth
from edge.twin.world import LaneGeometry, RoadGeometry, VehicleState
from models.classes import VehicleClass

# A camera exactly like the twin's default pole, over a plain two-lane road running north.
CAM = pole_camera((0.0, 0.0), corner_deg=225.0, distance_m=30.0, height_m=12.0, hfov_deg=88.0, look_ahead_m=-4.0)
ROAD = RoadGeometry(
    lanes=(
        LaneGeometry("r_0", "r", 0, ((-1.6, -80.0), (-1.6, 80.0)), 3.2, False, True),
        LaneGeometry("r_1", "r", 1, ((1.6, -80.0), (1.6, 80.0)), 3.2, False, True),
    ),
    junctions=(),
    centre=(0.0, 0.0),
)
# No noise, no shadows: every pixel that differs from the background belongs to a vehicle.
CLEAN = replace(LIGHTING["day"], noise_sigma=0.0, shadow=1.0)

SIZES = {"car": (4.3, 1.7, 1.5), "motorcycle": (2.0, 0.8, 1.5), "bus": (11.0, 2.5, 3.4), "truck": (8.0, 2.4, 2.4)}


def vehicle(vid: str, vtype: str, x: float, y: float, heading: float = 0.0) -> VehicleState:
    length, width, height = SIZES[vtype]
    return VehicleState(vid, vtype, x, y, heading, length, width, height)


def changed_bbox(image: np.ndarray, background: np.ndarray) -> tuple[int, int, int, int]:
    diff = np.abs(image.astype(np.int16) - background.astype(np.int16)).max(axis=2) > 0
    ys, xs = np.nonzero(diff)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(("vtype", "heading"), [("car", 0.0), ("motorcycle", 90.0), ("bus", 180.0), ("truck", 300.0)])
def test_truth_box_matches_painted_pixels(vtype: str, heading: float) -> None:
    r = Renderer(CAM, ROAD, CLEAN, seed=1)
    image, truth = r.render(build_scene([vehicle("v1", vtype, 0.0, 5.0, heading)]))
    assert truth.ids == ("v1",)
    assert truth.detections.class_id.tolist() == [int({"car": 0, "motorcycle": 1, "bus": 2, "truck": 3}[vtype])]
    painted = np.array(changed_bbox(image, r.background), dtype=np.float64)
    box = truth.detections.xyxy[0].astype(np.float64)
    # Rasterisation rounds to whole pixels; the projected box may be up to ~1.5 px larger
    # where a corner is hidden behind the vehicle's own faces.
    np.testing.assert_allclose(box, painted, atol=2.0)
    assert truth.visibility[0] > 0.85
    assert truth.truncation[0] == pytest.approx(0.0)


def test_nearer_vehicle_occludes_farther_one() -> None:
    # Both on the line from the camera through the junction: the bus hides most of the car.
    cam_xy = np.array(CAM.position[:2])
    toward = -cam_xy / np.linalg.norm(cam_xy)
    near = cam_xy + toward * 30.0
    far = cam_xy + toward * 35.0
    scene = build_scene(
        [
            vehicle("car", "car", float(far[0]), float(far[1]), 45.0),
            vehicle("bus", "bus", float(near[0]), float(near[1]), 135.0),
        ]
    )
    _, truth = Renderer(CAM, ROAD, CLEAN).render(scene)
    vis = dict(zip(truth.ids, truth.visibility.tolist(), strict=True))
    assert vis["bus"] > 0.85
    assert vis["car"] < 0.6
    assert truth.occluded.tolist() == [vid == "car" for vid in truth.ids]
    assert "car" not in truth.labelled(min_visibility=0.6).ids


def test_vehicle_behind_the_camera_has_no_box() -> None:
    _, truth = Renderer(CAM, ROAD, CLEAN).render(build_scene([vehicle("behind", "car", -200.0, -200.0)]))
    assert len(truth) == 0


def test_vehicle_on_the_frame_edge_is_clipped_and_marked_truncated() -> None:
    r = Renderer(CAM, ROAD, CLEAN)
    w, h = CAM.size
    # Walk a car along the road until its box touches an image edge.
    for y in np.arange(-40.0, 60.0, 0.5):
        _, truth = r.render(build_scene([vehicle("v", "car", 20.0, float(y), 0.0)]))
        if len(truth) and truth.truncation[0] > 0.1:
            x1, y1, x2, y2 = truth.detections.xyxy[0].tolist()
            assert 0.0 <= x1 < x2 <= w
            assert 0.0 <= y1 < y2 <= h
            assert min(x1, y1) == 0.0 or x2 == w or y2 == h
            return
    pytest.fail("no truncated position found")


def test_lighting_changes_the_picture() -> None:
    scene = build_scene([vehicle("v1", "car", 0.0, 5.0)])
    day, _ = Renderer(CAM, ROAD, LIGHTING["day"], seed=2).render(scene)
    dusk, _ = Renderer(CAM, ROAD, LIGHTING["dusk"], seed=2).render(scene)
    rain, _ = Renderer(CAM, ROAD, LIGHTING["rain"], seed=2).render(scene)
    assert dusk.mean() < day.mean() - 20
    assert rain.std() < day.std()


def test_shadow_darkens_the_road_beside_the_vehicle() -> None:
    low_sun = replace(LIGHTING["day"], noise_sigma=0.0, sun_elevation_deg=20.0, shadow=0.5)
    r = Renderer(CAM, ROAD, low_sun)
    image, truth = r.render(build_scene([vehicle("bus", "bus", 0.0, 5.0)]))
    x1, y1, x2, y2 = truth.detections.xyxy[0].astype(int).tolist()
    outside = np.ones(image.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    darker = (image.astype(int).sum(axis=2) < r.background.astype(int).sum(axis=2) - 30) & outside
    assert darker.sum() > 50


def test_noise_varies_between_frames() -> None:
    r = Renderer(CAM, ROAD, LIGHTING["rain"])
    scene = build_scene([])
    a, truth = r.render(scene)
    b, _ = r.render(scene)
    assert len(truth) == 0
    assert a.shape == (360, 640, 3)
    assert a.dtype == np.uint8
    assert not np.array_equal(a, b)


def test_every_class_has_a_template_and_a_stable_colour() -> None:
    assert set(TEMPLATES) == {"car", "motorcycle", "bus", "truck"}
    s1 = build_scene([vehicle("x", "car", 0.0, 0.0)])
    s2 = build_scene([vehicle("x", "car", 9.0, 9.0)])
    np.testing.assert_array_equal(s1.side_bgr, s2.side_bgr)
    assert s1.class_id.tolist() == [VehicleClass.CAR]


def test_empty_truth_is_consistent() -> None:
    t = FrameTruth.empty()
    assert len(t) == 0
    assert len(t.labelled()) == 0
