"""Image geometry for measures: counting lines, polygons and the ground-plane homography.

Everything here is vectorised over points (``(N, 2)`` float arrays) and free of state, so the
measure stages can test a whole frame of track anchors in one call.

Example:
    >>> line = Segment((0.0, 10.0), (100.0, 10.0))
    >>> line.signed_distance(np.array([[50.0, 0.0], [50.0, 20.0]])).tolist()
    [-10.0, 10.0]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import ConfigError

log = logging.getLogger(__name__)

Points = npt.NDArray[np.float64]
"""``(N, 2)`` array of ``(x, y)`` points."""

#: Calibrations whose points reproject worse than this (metres, RMS) are logged as suspicious.
_REPROJECTION_WARN_M = 0.5


def as_points(points: npt.ArrayLike) -> Points:
    """Any ``(N, 2)`` array-like as a float64 ``(N, 2)`` array."""
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


class Segment:
    """A directed line segment ``p0 -> p1`` (a counting line or a stop bar).

    The signed distance is positive on the right-hand side when walking from ``p0`` to ``p1`` in
    image coordinates (y grows downwards); this is the ``in`` side of :class:`edge.config.LineConfig`.
    """

    __slots__ = ("_normal", "_unit", "length", "p0", "p1")

    def __init__(self, p0: Sequence[float], p1: Sequence[float]) -> None:
        self.p0 = np.asarray(p0, dtype=np.float64)
        self.p1 = np.asarray(p1, dtype=np.float64)
        d = self.p1 - self.p0
        self.length = float(np.hypot(d[0], d[1]))
        if self.length == 0.0:
            raise ConfigError(f"line from {tuple(p0)} to {tuple(p1)} has zero length")
        self._unit = d / self.length
        # Cross product (p1 - p0) x (x - p0) = d_x * r_y - d_y * r_x, normalised: right-hand side > 0.
        self._normal = np.array([-self._unit[1], self._unit[0]])

    def signed_distance(self, points: Points) -> npt.NDArray[np.float64]:
        """``(N,)`` perpendicular distances in pixels, positive on the ``in`` (right-hand) side."""
        return np.asarray((as_points(points) - self.p0) @ self._normal, dtype=np.float64)

    def along(self, points: Points) -> npt.NDArray[np.float64]:
        """``(N,)`` positions along the segment as a fraction (0 at ``p0``, 1 at ``p1``)."""
        return np.asarray((as_points(points) - self.p0) @ self._unit / self.length, dtype=np.float64)

    def ray_hit(self, origin: npt.ArrayLike, velocity: npt.ArrayLike, widen: float = 0.0) -> float:
        """When a point moving from ``origin`` at ``velocity`` crosses the segment; ``inf`` if never.

        The answer is in the velocity's time unit (seconds for pixels per second). The segment is
        lengthened by ``widen`` of its length at each end; a point on the line now is not crossing.

        Example:
            >>> Segment((0, 10), (10, 10)).ray_hit((5, 0), (0, 2))  # 10 px away at 2 px/s
            5.0
            >>> Segment((0, 10), (10, 10)).ray_hit((5, 0), (0, -2))
            inf
        """
        o = np.asarray(origin, dtype=np.float64)
        v = np.asarray(velocity, dtype=np.float64)
        d0 = float((o - self.p0) @ self._normal)
        rate = float(v @ self._normal)
        if not np.isfinite(rate) or d0 * rate >= 0.0:  # parallel, moving away, or on the line
            return float("inf")
        t = -d0 / rate
        along = float((o + t * v - self.p0) @ self._unit) / self.length
        return t if -widen <= along <= 1.0 + widen else float("inf")


class Polygon:
    """A simple polygon (a detection zone) with a vectorised inside test.

    Example:
        >>> Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]).contains(np.array([[5, 5], [15, 5]])).tolist()
        [True, False]
    """

    __slots__ = ("_hi", "_lo", "_x0", "_x1", "_y0", "_y1", "vertices")

    def __init__(self, vertices: npt.ArrayLike) -> None:
        self.vertices = as_points(vertices)
        if len(self.vertices) < 3:
            raise ConfigError(f"a zone needs at least 3 points, got {len(self.vertices)}")
        area = 0.5 * float(
            np.dot(self.vertices[:, 0], np.roll(self.vertices[:, 1], -1))
            - np.dot(self.vertices[:, 1], np.roll(self.vertices[:, 0], -1))
        )
        if abs(area) < 1e-9:
            raise ConfigError(f"zone {self.vertices.tolist()} has no area")
        # Edges as start/end arrays, so that the crossing-number test runs over all points at once.
        self._x0 = self.vertices[:, 0]
        self._y0 = self.vertices[:, 1]
        self._x1 = np.roll(self._x0, -1)
        self._y1 = np.roll(self._y0, -1)
        self._lo = self.vertices.min(axis=0)
        self._hi = self.vertices.max(axis=0)

    def contains(self, points: Points) -> npt.NDArray[np.bool_]:
        """``(N,)`` True where a point lies inside (crossing-number rule; edges count as inside-ish)."""
        p = as_points(points)
        inside = np.zeros(len(p), dtype=bool)
        # Only points within the bounding box need the edge test (most of a busy frame is not).
        box = np.flatnonzero(np.all((p >= self._lo) & (p <= self._hi), axis=1))
        if len(box) == 0:
            return inside
        px = p[box, 0:1]
        py = p[box, 1:2]
        straddles = (self._y0 > py) != (self._y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = self._x0 + (py - self._y0) * (self._x1 - self._x0) / (self._y1 - self._y0)
        hits = straddles & (px < x_cross)
        inside[box] = np.count_nonzero(hits, axis=1) % 2 == 1
        return inside


class Homography:
    """Image-to-ground mapping of one camera, from four or more point pairs.

    Example:
        >>> h = Homography([(0, 0), (100, 0), (100, 100), (0, 100)], [(0, 0), (10, 0), (10, 10), (0, 10)])
        >>> h.to_ground(np.array([[50.0, 50.0]])).round(6).tolist()
        [[5.0, 5.0]]
    """

    __slots__ = ("matrix", "rms_error_m")

    def __init__(self, image_points: npt.ArrayLike, ground_points: npt.ArrayLike) -> None:
        src = as_points(image_points)
        dst = as_points(ground_points)
        if len(src) < 4 or len(src) != len(dst):
            raise ConfigError(f"a calibration needs 4 or more point pairs, got {len(src)} image and {len(dst)} ground points")
        # Least squares over all pairs (method 0): calibration points are surveyed by hand, so
        # there are no outliers for RANSAC to reject, and every pair should pull on the fit.
        matrix, _ = cv2.findHomography(src, dst, 0)
        if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
            raise ConfigError("calibration points are degenerate (three or more image points on one line?)")
        self.matrix: npt.NDArray[np.float64] = np.asarray(matrix, dtype=np.float64)
        err = self.to_ground(src) - dst
        self.rms_error_m = float(np.sqrt(np.mean(np.sum(err * err, axis=1))))
        if self.rms_error_m > _REPROJECTION_WARN_M:
            log.warning("calibration reprojects with %.2f m RMS error: check the point pairs", self.rms_error_m)

    def to_ground(self, points: Points) -> Points:
        """``(N, 2)`` ground coordinates in metres of image points."""
        p = as_points(points)
        if len(p) == 0:
            return p
        h = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ self.matrix.T
        return np.asarray(h[:, :2] / h[:, 2:3], dtype=np.float64)


def point_segment_distance(points: Points, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(N,)`` Euclidean distances from points to the segment ``a-b`` (any units)."""
    p = as_points(points)
    a_ = np.asarray(a, dtype=np.float64)
    d = np.asarray(b, dtype=np.float64) - a_
    denom = float(d @ d)
    t = np.zeros(len(p)) if denom == 0.0 else np.clip((p - a_) @ d / denom, 0.0, 1.0)
    nearest = a_ + t[:, None] * d
    return np.asarray(np.hypot(*(p - nearest).T), dtype=np.float64)
