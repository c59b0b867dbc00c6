"""SUMO vehicles as 3D boxes: each vehicle type is a few boxes (body, cabin, rider, cargo).

A vehicle is built from a template of parts in its own frame: ``along`` runs from the front
bumper (0) to the rear (1) as fractions of its length, ``across`` is a fraction of its width,
``z`` a fraction of its height. Colours are drawn from per-role palettes with a hash of the SUMO
id, so a vehicle keeps its colours from frame to frame and from run to run.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.twin.world import VTYPE_CLASS, VehicleState

F64 = npt.NDArray[np.float64]

# (along0, along1, across, z0, z1, side role, top role)
_Part = tuple[float, float, float, float, float, str, str]

TEMPLATES: dict[str, tuple[_Part, ...]] = {
    "car": (
        (0.0, 1.0, 1.0, 0.12, 0.58, "body", "body"),
        (0.27, 0.86, 0.88, 0.58, 1.0, "glass", "body"),
    ),
    "motorcycle": (
        (0.0, 1.0, 0.42, 0.14, 0.52, "frame", "frame"),
        (0.32, 0.68, 0.68, 0.52, 0.86, "rider", "rider"),
        (0.40, 0.60, 0.42, 0.86, 1.0, "helmet", "helmet"),
    ),
    "bus": (
        (0.0, 1.0, 1.0, 0.10, 0.45, "body", "body"),
        (0.0, 1.0, 1.0, 0.45, 0.82, "glass", "body"),
        (0.0, 1.0, 1.0, 0.82, 1.0, "body", "roof"),
    ),
    "truck": (
        (0.0, 0.23, 1.0, 0.14, 0.78, "body", "body"),
        (0.23, 1.0, 0.86, 0.12, 0.32, "frame", "frame"),
        (0.26, 1.0, 1.0, 0.30, 1.0, "cargo", "cargo"),
    ),
}

# BGR palettes (0..255) per role; vehicle types may override.
_PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "car.body": (
        (235, 235, 235), (240, 240, 240), (30, 30, 30), (25, 25, 28), (190, 190, 195), (150, 150, 155),
        (40, 40, 170), (120, 60, 20), (70, 70, 70), (60, 110, 160), (20, 60, 110), (200, 210, 215),
    ),
    "bus.body": ((60, 160, 230), (190, 110, 30), (40, 40, 190), (230, 230, 230), (40, 140, 60)),
    "truck.body": ((30, 160, 230), (200, 120, 40), (40, 40, 180), (220, 220, 220), (50, 120, 50)),
    "glass": ((55, 45, 40), (45, 40, 38), (70, 60, 50)),
    "frame": ((25, 25, 25), (40, 40, 45), (30, 30, 120), (120, 50, 20), (200, 200, 200)),
    "rider": ((30, 30, 30), (120, 80, 40), (50, 50, 140), (60, 120, 60), (160, 160, 160), (20, 100, 200), (90, 60, 120)),
    "helmet": ((20, 20, 20), (230, 230, 230), (30, 30, 200), (200, 80, 20), (30, 180, 230), (40, 140, 40)),
    "cargo": ((210, 210, 210), (230, 230, 225), (90, 120, 150), (60, 90, 60), (160, 120, 70)),
    "roof": ((200, 200, 200), (215, 215, 215)),
}


@functools.lru_cache(maxsize=8192)
def _colour(vtype: str, role: str, vid: str) -> tuple[float, float, float]:
    palette = _PALETTES.get(f"{vtype}.{role}") or _PALETTES.get(role) or _PALETTES["car.body"]
    pick = zlib.crc32(f"{vid}/{role}".encode()) % len(palette)
    b, g, r = palette[pick]
    return float(b), float(g), float(r)


# Box corner order: bottom (0..3) then top (4..7); faces listed with their outward local normal.
# (along, across) of the bottom corners: front-left, front-right, rear-right, rear-left.
FACES: tuple[tuple[tuple[int, int, int, int], tuple[float, float, float]], ...] = (
    ((0, 1, 5, 4), (1.0, 0.0, 0.0)),  # front: +forward
    ((2, 3, 7, 6), (-1.0, 0.0, 0.0)),  # rear
    ((3, 0, 4, 7), (0.0, 1.0, 0.0)),  # left: +left
    ((1, 2, 6, 5), (0.0, -1.0, 0.0)),  # right
    ((4, 5, 6, 7), (0.0, 0.0, 1.0)),  # top
)


@dataclass(frozen=True, slots=True)
class SceneBoxes:
    """All boxes of one frame as parallel arrays.

    Attributes:
        corners: ``(P, 8, 3)`` world corners of every part.
        normals: ``(P, 5, 3)`` world outward normals of the five drawn faces (no bottom).
        vehicle: ``(P,)`` index into ``ids`` of the vehicle each part belongs to.
        side_bgr: ``(P, 3)`` base colour of each part's sides.
        top_bgr: ``(P, 3)`` base colour of each part's top.
        ids: SUMO ids, one per vehicle.
        class_id: ``(V,)`` :class:`~models.classes.VehicleClass` per vehicle.
    """

    corners: F64
    normals: F64
    vehicle: npt.NDArray[np.int64]
    side_bgr: F64
    top_bgr: F64
    ids: tuple[str, ...]
    class_id: npt.NDArray[np.int64]


def build_scene(vehicles: Sequence[VehicleState]) -> SceneBoxes:
    """Turn SUMO vehicle states into boxes.

    Example:
        >>> s = build_scene([VehicleState("v0", "car", 0.0, 10.0, 180.0, 4.4, 1.75, 1.5)])
        >>> s.corners.shape, round(float(s.corners[0, :, 2].max()), 2)
        ((2, 8, 3), 1.5)
    """
    rows: list[tuple[float, ...]] = []
    vidx: list[int] = []
    side: list[tuple[float, float, float]] = []
    top: list[tuple[float, float, float]] = []
    classes: list[int] = []
    for i, v in enumerate(vehicles):
        template = TEMPLATES.get(v.vtype, TEMPLATES["car"])
        classes.append(int(VTYPE_CLASS.get(v.vtype, VTYPE_CLASS["car"])))
        a = math.radians(v.heading_deg)
        fx, fy = math.sin(a), math.cos(a)
        for a0, a1, across, z0, z1, srole, trole in template:
            rows.append((v.x, v.y, fx, fy, v.length, v.width, v.height, a0, a1, across, z0, z1))
            vidx.append(i)
            side.append(_colour(v.vtype, srole, v.id))
            top.append(_colour(v.vtype, trole, v.id))
    if not rows:
        return SceneBoxes(
            np.zeros((0, 8, 3)), np.zeros((0, 5, 3)), np.zeros((0,), np.int64), np.zeros((0, 3)),
            np.zeros((0, 3)), (), np.zeros((0,), np.int64),
        )
    t = np.asarray(rows, dtype=np.float64)
    px, py, fx, fy, length, width, height, a0, a1, across, z0, z1 = t.T
    lx, ly = -fy, fx  # left of the heading (counter-clockwise)
    half = across * width / 2.0
    # (along, across-sign) per bottom corner: front-left, front-right, rear-right, rear-left.
    along = np.stack([a0, a0, a1, a1], axis=1) * length[:, None]
    sign = np.array([1.0, -1.0, -1.0, 1.0])[None, :] * half[:, None]
    bx = px[:, None] - fx[:, None] * along + lx[:, None] * sign
    by = py[:, None] - fy[:, None] * along + ly[:, None] * sign
    corners = np.empty((len(t), 8, 3))
    corners[:, :4, 0] = bx
    corners[:, :4, 1] = by
    corners[:, :4, 2] = (z0 * height)[:, None]
    corners[:, 4:, 0] = bx
    corners[:, 4:, 1] = by
    corners[:, 4:, 2] = (z1 * height)[:, None]
    normals = np.zeros((len(t), 5, 3))
    for k, (_, (nf, nl, nz)) in enumerate(FACES):
        normals[:, k, 0] = nf * fx + nl * lx
        normals[:, k, 1] = nf * fy + nl * ly
        normals[:, k, 2] = nz
    return SceneBoxes(
        corners=corners,
        normals=normals,
        vehicle=np.asarray(vidx, dtype=np.int64),
        side_bgr=np.asarray(side, dtype=np.float64),
        top_bgr=np.asarray(top, dtype=np.float64),
        ids=tuple(v.id for v in vehicles),
        class_id=np.asarray(classes, dtype=np.int64),
    )
