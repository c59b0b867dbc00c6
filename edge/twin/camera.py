"""A pinhole camera on a pole: world (metres, SUMO axes) to image (pixels) and back.

World axes are SUMO's: ``x`` east, ``y`` north, ``z`` up, in metres. Camera axes follow OpenCV:
``x`` right, ``y`` down, ``z`` forward. No lens distortion: the twin renders an ideal pinhole, so
the ground homography derived here is exact and the site config's calibration can be generated
from it rather than clicked by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: Points closer than this to the camera plane are clipped away before projection.
NEAR_M = 0.5


@dataclass(frozen=True, slots=True)
class PinholeCamera:
    """An ideal pinhole camera.

    Attributes:
        position: Centre of projection in world metres ``(x, y, z)``.
        rotation: ``3x3`` world-to-camera rotation (rows: camera right, down, forward in world axes).
        focal_px: Focal length in pixels (square pixels).
        size: Image ``(width, height)`` in pixels.

    Example:
        >>> cam = PinholeCamera.looking_at((0, -30, 9), (0, 0, 0), hfov_deg=70, size=(640, 360))
        >>> uv, ok = cam.project(np.array([[0.0, 0.0, 0.0]]))
        >>> [round(float(v)) for v in uv[0]], bool(ok[0])
        ([320, 180], True)
    """

    position: tuple[float, float, float]
    rotation: tuple[tuple[float, ...], ...]
    focal_px: float
    size: tuple[int, int]

    @classmethod
    def looking_at(
        cls,
        position: tuple[float, float, float],
        target: tuple[float, float, float],
        hfov_deg: float,
        size: tuple[int, int],
        roll_deg: float = 0.0,
    ) -> PinholeCamera:
        """A camera at ``position`` aimed at ``target`` with a horizontal field of view."""
        if not 10.0 <= hfov_deg <= 150.0:
            raise ValueError(f"horizontal field of view {hfov_deg} deg is outside 10..150")
        eye = np.asarray(position, dtype=np.float64)
        fwd = np.asarray(target, dtype=np.float64) - eye
        norm = float(np.linalg.norm(fwd))
        if norm < 1e-6:
            raise ValueError("camera target coincides with its position")
        fwd /= norm
        right = np.cross(fwd, np.array([0.0, 0.0, 1.0]))
        if float(np.linalg.norm(right)) < 1e-6:
            raise ValueError("camera looks straight up or down; give the target a horizontal offset")
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        if roll_deg:
            c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
            right, down = c * right + s * down, -s * right + c * down
        rot = np.stack([right, down, fwd])
        focal = size[0] / 2.0 / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(
            position=(float(eye[0]), float(eye[1]), float(eye[2])),
            rotation=tuple(tuple(float(v) for v in row) for row in rot),
            focal_px=focal,
            size=(int(size[0]), int(size[1])),
        )

    @property
    def r(self) -> F64:
        """The rotation as a ``3x3`` array."""
        return np.asarray(self.rotation, dtype=np.float64)

    @property
    def k(self) -> F64:
        """The intrinsic matrix."""
        w, h = self.size
        return np.array([[self.focal_px, 0.0, w / 2.0], [0.0, self.focal_px, h / 2.0], [0.0, 0.0, 1.0]])

    def to_camera(self, points: npt.ArrayLike) -> F64:
        """World points ``(N, 3)`` in camera coordinates ``(N, 3)``."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        out: F64 = (p - np.asarray(self.position)) @ self.r.T
        return out

    def project_camera(self, pc: F64) -> F64:
        """Camera-frame points ``(N, 3)`` (in front of the camera) to pixels ``(N, 2)``."""
        w, h = self.size
        z = np.maximum(pc[:, 2], 1e-9)
        return np.stack([self.focal_px * pc[:, 0] / z + w / 2.0, self.focal_px * pc[:, 1] / z + h / 2.0], axis=1)

    def project(self, points: npt.ArrayLike) -> tuple[F64, npt.NDArray[np.bool_]]:
        """World points to pixels, and which of them lie in front of the near plane."""
        pc = self.to_camera(points)
        return self.project_camera(pc), pc[:, 2] > NEAR_M

    def ground_homography(self) -> F64:
        """The ``3x3`` homography from ground-plane metres ``(x, y, 1)`` to image pixels."""
        r = self.r
        t = -r @ np.asarray(self.position)
        h = self.k @ np.stack([r[:, 0], r[:, 1], t], axis=1)
        return np.asarray(h / h[2, 2], dtype=np.float64)

    def image_to_ground(self, pixels: npt.ArrayLike) -> F64:
        """Image pixels ``(N, 2)`` back onto the ground plane ``(N, 2)`` in metres."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        hinv = np.linalg.inv(self.ground_homography())
        q = np.concatenate([uv, np.ones((len(uv), 1))], axis=1) @ hinv.T
        return np.asarray(q[:, :2] / q[:, 2:3], dtype=np.float64)

    def ground_to_image(self, points: npt.ArrayLike) -> F64:
        """Ground-plane points ``(N, 2)`` in metres to image pixels ``(N, 2)``."""
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        uv, _ = self.project(np.concatenate([xy, np.zeros((len(xy), 1))], axis=1))
        return uv


def pole_camera(
    junction: tuple[float, float],
    *,
    corner_deg: float = 225.0,
    distance_m: float = 24.0,
    height_m: float = 9.0,
    look_ahead_m: float = 6.0,
    hfov_deg: float = 78.0,
    size: tuple[int, int] = (640, 360),
    roll_deg: float = 0.0,
) -> PinholeCamera:
    """A camera on a pole at a corner of the junction, looking over it.

    Args:
        junction: Junction centre in world metres.
        corner_deg: Bearing of the pole from the centre, counter-clockwise from east (225 = south-west).
        distance_m: Horizontal distance from the centre to the pole.
        height_m: Camera height above the road (CCTV poles are typically 8-10 m).
        look_ahead_m: The camera aims this far beyond the centre, so the far approach fills the frame.
        hfov_deg: Horizontal field of view.
        size: Image size in pixels.
        roll_deg: Camera roll (a slightly crooked mount), degrees.
    """
    a = math.radians(corner_deg)
    ux, uy = math.cos(a), math.sin(a)
    cx, cy = junction
    pos = (cx + distance_m * ux, cy + distance_m * uy, height_m)
    target = (cx - look_ahead_m * ux, cy - look_ahead_m * uy, 0.0)
    return PinholeCamera.looking_at(pos, target, hfov_deg=hfov_deg, size=size, roll_deg=roll_deg)


def clip_near(poly_cam: F64, near: float = NEAR_M) -> F64:
    """Clip a convex or simple polygon in camera coordinates to ``z >= near`` (Sutherland-Hodgman).

    Ground polygons that extend behind the camera would otherwise project to garbage.
    """
    out: list[F64] = []
    n = len(poly_cam)
    for i in range(n):
        a, b = poly_cam[i], poly_cam[(i + 1) % n]
        a_in, b_in = a[2] >= near, b[2] >= near
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.asarray(out, dtype=np.float64).reshape(-1, 3)
