"""The twin's rasteriser: a cached road background, then shadows, shaded boxes and sensor noise.

Per frame the work is one background copy, one shadow mask, a few hundred
``cv2.fillConvexPoly`` calls in painter's order (farthest vehicle first; faces facing away are
culled) and a noise add. Ground truth comes out of the same pass: each vehicle's 2D box is the
bounds of its projected corners, and its visible fraction is counted from an id buffer painted
alongside the image, so occlusion by nearer vehicles is exact at pixel level.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from edge.twin.camera import NEAR_M, PinholeCamera, clip_near
from edge.twin.scene import FACES, SceneBoxes
from edge.twin.truth import FrameTruth
from edge.twin.world import RoadGeometry

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

_SHIFT = 4  # sub-pixel bits for cv2 polygon filling
_SCALE = float(1 << _SHIFT)
_FACE_IDX = np.array([f[0] for f in FACES], dtype=np.int64)
_NOISE_BANK = 6


@dataclass(frozen=True, slots=True)
class Lighting:
    """Light and weather of a rendered scene.

    Attributes:
        name: Preset name.
        sun_azimuth_deg: Bearing of the sun, counter-clockwise from east.
        sun_elevation_deg: Height of the sun above the horizon.
        sun: Strength of direct sunlight (0 = none).
        ambient: Strength of sky light.
        tint: BGR multipliers of the light's colour.
        shadow: Brightness left in a cast shadow (1 = no shadows).
        haze: Blend towards ``haze_bgr`` (rain, smog).
        haze_bgr: Colour of the haze and of the sky.
        wet: Road darkening from rain (0..1).
        noise_sigma: Sensor noise, grey levels.
    """

    name: str
    sun_azimuth_deg: float = 200.0
    sun_elevation_deg: float = 55.0
    sun: float = 0.55
    ambient: float = 0.55
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shadow: float = 0.55
    haze: float = 0.05
    haze_bgr: tuple[float, float, float] = (215.0, 205.0, 195.0)
    wet: float = 0.0
    noise_sigma: float = 3.0

    @property
    def sun_dir(self) -> F64:
        """Unit vector pointing towards the sun."""
        az, el = math.radians(self.sun_azimuth_deg), math.radians(self.sun_elevation_deg)
        return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])

    def jittered(self, rng: np.random.Generator) -> Lighting:
        """A random variation of this preset, for domain randomisation."""
        return replace(
            self,
            sun_azimuth_deg=float(rng.uniform(0.0, 360.0)),
            sun_elevation_deg=float(np.clip(self.sun_elevation_deg + rng.normal(0, 8), 6, 85)),
            sun=float(max(0.0, self.sun * rng.uniform(0.8, 1.2))),
            ambient=float(self.ambient * rng.uniform(0.85, 1.15)),
            tint=(
                float(self.tint[0] * rng.uniform(0.92, 1.08)),
                float(self.tint[1] * rng.uniform(0.95, 1.05)),
                float(self.tint[2] * rng.uniform(0.92, 1.08)),
            ),
            noise_sigma=float(self.noise_sigma * rng.uniform(0.6, 1.6)),
        )


LIGHTING: dict[str, Lighting] = {
    "day": Lighting("day"),
    "morning": Lighting("morning", 80.0, 22.0, 0.6, 0.45, (0.85, 0.97, 1.1), 0.5, 0.08, (200.0, 210.0, 225.0), 0.0, 3.0),
    "afternoon": Lighting("afternoon", 250.0, 35.0, 0.6, 0.5, (0.92, 1.0, 1.06), 0.5, 0.06),
    "overcast": Lighting("overcast", 200.0, 60.0, 0.08, 0.85, (1.02, 1.0, 0.97), 0.85, 0.15, (200.0, 200.0, 198.0), 0.1, 3.5),
    "dusk": Lighting("dusk", 260.0, 7.0, 0.35, 0.32, (0.7, 0.85, 1.15), 0.6, 0.12, (120.0, 120.0, 150.0), 0.0, 6.0),
    "rain": Lighting("rain", 200.0, 60.0, 0.0, 0.6, (1.05, 1.0, 0.95), 1.0, 0.3, (150.0, 148.0, 145.0), 0.6, 5.0),
}

_ASPHALT = np.array([92.0, 92.0, 95.0])
_MARK = np.array([225.0, 228.0, 230.0])


def _lit(bgr: F64, factor: F64 | float, light: Lighting) -> F64:
    """Apply light strength, tint and haze to base colours (any leading shape, last axis BGR)."""
    c = np.asarray(bgr, dtype=np.float64) * np.asarray(factor)[..., None] * np.asarray(light.tint)
    c = c * (1.0 - light.haze) + np.asarray(light.haze_bgr) * light.haze
    return np.asarray(np.clip(c, 0.0, 255.0), dtype=np.float64)


class Renderer:
    """Renders SUMO scenes through one camera under one lighting.

    Args:
        camera: The pinhole camera.
        road: Static road layout.
        lighting: Light and weather.
        seed: Seeds the background texture, scenery and sensor noise.

    Example:
        >>> r = Renderer(camera, world.geometry(), LIGHTING["dusk"])     # doctest: +SKIP
        >>> image, truth = r.render(build_scene(world.vehicles()))        # doctest: +SKIP
    """

    def __init__(self, camera: PinholeCamera, road: RoadGeometry, lighting: Lighting, seed: int = 0) -> None:
        self.camera = camera
        self.road = road
        self.lighting = lighting
        self._rng = np.random.default_rng(seed)
        w, h = camera.size
        self._r = camera.r
        self._pos = np.asarray(camera.position)
        self.background = self._paint_background()
        sigma = max(0.0, lighting.noise_sigma)
        noise = self._rng.normal(0.0, sigma, size=(_NOISE_BANK, h, w, 1)).repeat(3, axis=3)
        noise += self._rng.normal(0.0, sigma * 0.4, size=(_NOISE_BANK, h, w, 3))
        self._noise_pos = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_neg = np.clip(-noise, 0, 255).astype(np.uint8)
        self._frame = 0

    # --- background -------------------------------------------------------------------------

    def _ground_px(self, pts: F64) -> npt.NDArray[np.int32] | None:
        """Ground polygon (N, 2) metres -> fixed-point pixel polygon, clipped at the near plane."""
        p3 = np.concatenate([pts, np.zeros((len(pts), 1))], axis=1)
        pc = clip_near((p3 - self._pos) @ self._r.T)
        if len(pc) < 3:
            return None
        uv = self.camera.project_camera(pc)
        return np.asarray(np.round(uv * _SCALE), dtype=np.int32)

    def _fill_ground(self, img: U8, pts: F64, bgr: F64) -> None:
        poly = self._ground_px(pts)
        if poly is not None:
            cv2.fillPoly(img, [poly], bgr.tolist(), cv2.LINE_AA, _SHIFT)

    def _strip(self, img: U8, a: F64, b: F64, width: float, bgr: F64) -> None:
        """A painted strip of ``width`` metres on the ground from ``a`` to ``b``."""
        d = b - a
        n = float(np.hypot(*d))
        if n < 1e-6:
            return
        off = np.array([-d[1], d[0]]) / n * width / 2.0
        self._fill_ground(img, np.array([a + off, b + off, b - off, a - off]), bgr)

    def _paint_background(self) -> U8:
        cam, light = self.camera, self.lighting
        w, h = cam.size
        rng = self._rng
        sky = _lit(np.array(light.haze_bgr) * 1.05, 1.0, light)
        img = np.empty((h, w, 3), dtype=np.uint8)
        img[:] = np.clip(sky, 0, 255).astype(np.uint8)
        cx, cy = self.road.centre
        ground_level = light.ambient + light.sun * max(0.0, float(light.sun_dir[2]))
        ground_base = np.array([70.0, 105.0, 100.0]) * rng.uniform(0.8, 1.2, size=3)
        size = 600.0
        self._fill_ground(
            img,
            np.array([[cx - size, cy - size], [cx + size, cy - size], [cx + size, cy + size], [cx - size, cy + size]]),
            _lit(ground_base, ground_level, light),
        )
        # Pavements: a lighter band around each road leg, then the asphalt on top.
        asphalt = _lit(_ASPHALT * (1.0 - 0.35 * light.wet) * rng.uniform(0.85, 1.15), ground_level, light)
        kerb = _lit(np.array([150.0, 155.0, 158.0]) * rng.uniform(0.85, 1.1), ground_level, light)
        for lane in self.road.lanes:
            if not lane.internal:
                self._lane_band(img, lane.shape, lane.width + 3.5, kerb)
        for poly in self.road.junctions:
            self._fill_ground(img, np.asarray(poly, dtype=np.float64), asphalt)
        for lane in self.road.lanes:
            self._lane_band(img, lane.shape, lane.width + 0.05, asphalt)
        self._markings(img, ground_level)
        # Scenery last: a building between the camera and a road hides the road's markings.
        self._scenery(img)
        # Static texture: low-frequency blotches and grain, so that the road is not a flat colour.
        blot = cv2.resize(rng.normal(0.0, 1.0, size=(h // 16 + 1, w // 16 + 1)).astype(np.float32), (w, h))
        grain = rng.normal(0.0, 1.0, size=(h, w)).astype(np.float32)
        tex = 1.0 + 0.05 * blot + 0.03 * grain
        return np.asarray(np.clip(img.astype(np.float32) * tex[..., None], 0, 255), dtype=np.uint8)

    def _lane_band(self, img: U8, shape: tuple[tuple[float, float], ...], width: float, bgr: F64) -> None:
        pts = np.asarray(shape, dtype=np.float64)
        for a, b in itertools.pairwise(pts):
            d = b - a
            n = float(np.hypot(*d))
            if n < 1e-6:
                continue
            ext = d / n * min(0.3, n)  # overlap segments slightly so joints leave no gaps
            self._strip(img, a - ext, b + ext, width, bgr)

    def _markings(self, img: U8, level: float) -> None:
        mark = _lit(_MARK * (1.0 - 0.2 * self.lighting.wet), level, self.lighting)
        by_edge: dict[str, list[tuple[int, F64, float]]] = {}
        for lane in self.road.lanes:
            if lane.internal or len(lane.shape) < 2:
                continue
            by_edge.setdefault(lane.edge, []).append((lane.index, np.asarray(lane.shape), lane.width))
        for lanes in by_edge.values():
            lanes.sort(key=lambda t: t[0])
            for (_, s0, _w0), (_, s1, _w1) in itertools.pairwise(lanes):
                if len(s0) == len(s1):
                    self._dashed(img, (s0 + s1) / 2.0, mark)
            # Outer edges: solid lines half a lane outside the outermost centre lines.
            first, last = lanes[0], lanes[-1]
            if len(lanes) > 1 and len(first[1]) == len(last[1]):
                span = last[1] - first[1]
                unit = span / np.maximum(np.linalg.norm(span, axis=1, keepdims=True), 1e-9)
                self._polyline(img, first[1] - unit * (first[2] / 2.0 - 0.2), 0.15, mark)
                self._polyline(img, last[1] + unit * (last[2] / 2.0 - 0.2), 0.15, mark)
        for lane in self.road.lanes:
            if lane.stop_bar and len(lane.shape) >= 2:
                a, b = np.asarray(lane.shape[-2]), np.asarray(lane.shape[-1])
                d = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
                left = np.array([-d[1], d[0]]) * lane.width / 2.0
                end = b - d * 0.5
                self._strip(img, end + left, end - left, 0.45, mark)

    def _polyline(self, img: U8, pts: F64, width: float, bgr: F64) -> None:
        for a, b in itertools.pairwise(pts):
            self._strip(img, a, b, width, bgr)

    def _dashed(self, img: U8, pts: F64, bgr: F64, dash: float = 3.0, gap: float = 5.0) -> None:
        for a, b in itertools.pairwise(pts):
            d = b - a
            n = float(np.hypot(*d))
            s = 1.0
            while s < n - 1.0:
                e = min(s + dash, n)
                self._strip(img, a + d * (s / n), a + d * (e / n), 0.13, bgr)
                s += dash + gap

    def _scenery(self, img: U8) -> None:
        """Buildings and trees at the corners: clutter the detector must learn to ignore."""
        rng = self._rng
        cx, cy = self.road.centre
        boxes: list[tuple[F64, F64]] = []
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                for _ in range(int(rng.integers(2, 6))):
                    x0 = cx + sx * float(rng.uniform(16.0, 70.0))
                    y0 = cy + sy * float(rng.uniform(16.0, 70.0))
                    bw, bd = float(rng.uniform(4.0, 14.0)), float(rng.uniform(4.0, 14.0))
                    tree = rng.random() < 0.4
                    ht = float(rng.uniform(3.0, 7.0) if tree else rng.uniform(3.0, 14.0))
                    if tree:
                        bw = bd = float(rng.uniform(2.5, 5.0))
                    xs = np.array([x0, x0 + sx * bw])
                    ys = np.array([y0, y0 + sy * bd])
                    corners = np.array(
                        [[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.max(), ys.max()], [xs.min(), ys.max()]]
                    )
                    colour = (
                        np.array([40.0, 95.0, 55.0]) * rng.uniform(0.7, 1.2)
                        if tree
                        else np.array([180.0, 190.0, 200.0]) * rng.uniform(0.45, 1.15, size=3)
                    )
                    boxes.append((np.concatenate([corners, np.full((4, 1), ht)], axis=1), colour))
        boxes.sort(key=lambda b: -float(np.linalg.norm(b[0][:, :2].mean(0) - self._pos[:2])))
        sun = self.lighting.sun_dir
        for top, colour in boxes:
            bottom = top.copy()
            bottom[:, 2] = 0.0
            centre = top.mean(0)
            for i in range(4):
                j = (i + 1) % 4
                quad = np.array([bottom[i], bottom[j], top[j], top[i]])
                mid = quad.mean(0)
                normal = np.array([mid[0] - centre[0], mid[1] - centre[1], 0.0])
                normal /= max(float(np.linalg.norm(normal)), 1e-9)
                if float(normal @ (self._pos - mid)) <= 0:
                    continue
                shade = self.lighting.ambient + self.lighting.sun * max(0.0, float(normal @ sun))
                self._fill_3d(img, quad, _lit(colour, shade, self.lighting))
            shade = self.lighting.ambient + self.lighting.sun * max(0.0, float(sun[2]))
            self._fill_3d(img, top, _lit(colour * 1.05, shade, self.lighting))

    def _fill_3d(self, img: U8, poly: F64, bgr: F64) -> None:
        pc = clip_near((poly - self._pos) @ self._r.T)
        if len(pc) >= 3:
            uv = np.round(self.camera.project_camera(pc) * _SCALE).astype(np.int32)
            cv2.fillPoly(img, [uv], bgr.tolist(), cv2.LINE_AA, _SHIFT)

    # --- per frame --------------------------------------------------------------------------

    def render(self, scene: SceneBoxes, truth: bool = True) -> tuple[U8, FrameTruth]:
        """Paint one frame of ``scene``; also measure every vehicle's box and visibility."""
        w, h = self.camera.size
        img = self.background.copy()
        light = self.lighting
        n_veh = len(scene.ids)
        if n_veh == 0:
            self._add_noise(img)
            return img, FrameTruth.empty()
        # Parts come grouped by vehicle (build_scene's order): vehicle v owns parts start[v]:start[v+1].
        start = np.searchsorted(scene.vehicle, np.arange(n_veh + 1))
        pc = (scene.corners.reshape(-1, 3) - self._pos) @ self._r.T
        n_parts = len(scene.corners)
        uv = self.camera.project_camera(pc).reshape(n_parts, 8, 2)
        in_front = (pc[:, 2] > NEAR_M).reshape(n_parts, 8).all(axis=1)
        lo, hi = uv.min(axis=1), uv.max(axis=1)
        in_image = (hi[:, 0] >= 0) & (lo[:, 0] < w) & (hi[:, 1] >= 0) & (lo[:, 1] < h)
        # A vehicle is drawn if it is wholly in front of the camera (the others are below the
        # pole) and some part of it falls inside the frame.
        heads = start[:-1]
        veh_ok = np.logical_and.reduceat(in_front, heads) & np.logical_or.reduceat(in_image, heads)
        shown = np.flatnonzero(veh_ok)
        if len(shown) == 0:
            self._add_noise(img)
            return img, FrameTruth.empty()
        parts = np.flatnonzero(veh_ok[scene.vehicle])
        corners = scene.corners[parts]
        normals = scene.normals[parts]
        puv = uv[parts]

        sun = light.sun_dir
        if light.shadow < 0.999 and sun[2] > 0.05:
            self._shadows(img, corners, puv, scene.vehicle[parts], sun)

        # Face colours: Lambert shading with sky light, then tint and haze.
        factor = light.ambient + light.sun * np.maximum(normals @ sun, 0.0)
        factor[:, 4] += 0.12  # tops see the whole sky
        base = np.repeat(scene.side_bgr[parts][:, None, :], 5, axis=1)
        base[:, 4] = scene.top_bgr[parts]
        colours = _lit(base, factor, light).tolist()
        face_pts = corners[:, _FACE_IDX]
        to_cam = self._pos[None, None, :] - face_pts.mean(axis=2)
        facing = (np.einsum("pfk,pfk->pf", normals, to_cam) > 0).tolist()
        polys = np.ascontiguousarray(np.round(puv * _SCALE).astype(np.int32)[:, _FACE_IDX])

        # Painter's order: farthest vehicle first, and within a vehicle its farthest part first.
        dist_part = np.linalg.norm(corners.mean(axis=1) - self._pos, axis=1)
        owner = scene.vehicle[parts]
        veh_dist = np.zeros(n_veh)
        np.maximum.at(veh_dist, owner, dist_part)
        order = np.lexsort((-dist_part, -veh_dist[owner])).tolist()
        tags = (owner + 1).tolist()
        ids_buf = np.zeros((h, w), dtype=np.uint16) if truth else None
        for p in order:
            vis = facing[p]
            col = colours[p]
            poly = polys[p]
            for k in range(5):
                if vis[k]:
                    cv2.fillConvexPoly(img, poly[k], col[k], cv2.LINE_8, _SHIFT)
                    if ids_buf is not None:
                        cv2.fillConvexPoly(ids_buf, poly[k], tags[p], cv2.LINE_8, _SHIFT)
        self._add_noise(img)
        if ids_buf is None:
            return img, FrameTruth.empty()
        return img, self._truth(scene, uv, start, shown, ids_buf)

    def _shadows(self, img: U8, corners: F64, puv: F64, owner: npt.NDArray[np.int64], sun: F64) -> None:
        """Darken each vehicle's cast shadow: its corners slid down the sun's rays onto the ground."""
        h, w = img.shape[:2]
        flat = corners.reshape(-1, 3)
        g = flat - flat[:, 2:3] * (sun / sun[2])
        gpc = (g - self._pos) @ self._r.T
        if not bool((gpc[:, 2] > NEAR_M).all()):
            gpc[:, 2] = np.maximum(gpc[:, 2], NEAR_M)
        guv = self.camera.project_camera(gpc).reshape(-1, 8, 2)
        # Hull of the shadow and of the vehicle's own footprint, so the shadow starts at the wheels.
        pts = np.round(np.concatenate([guv, puv[:, :4]], axis=1) * _SCALE).astype(np.int32)
        mask = np.zeros((h, w), dtype=np.uint8)
        bounds = np.flatnonzero(np.diff(owner)) + 1
        for group in np.split(pts, bounds):
            hull = cv2.convexHull(group.reshape(-1, 2))
            cv2.fillConvexPoly(mask, hull, 1, cv2.LINE_8, _SHIFT)
        dark = cv2.convertScaleAbs(img, alpha=self.lighting.shadow)
        cv2.copyTo(dark, mask, img)

    def _add_noise(self, img: U8) -> None:
        k = self._frame % _NOISE_BANK
        self._frame += 1
        cv2.add(img, self._noise_pos[k], dst=img)
        cv2.subtract(img, self._noise_neg[k], dst=img)

    def _truth(
        self,
        scene: SceneBoxes,
        uv: F64,
        start: npt.NDArray[np.int64],
        shown: npt.NDArray[np.int64],
        ids_buf: npt.NDArray[np.uint16],
    ) -> FrameTruth:
        w, h = self.camera.size
        n_veh = len(scene.ids)
        visible_px = np.bincount(ids_buf.reshape(-1), minlength=n_veh + 1)[1:]
        rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        rows: list[int] = []
        boxes: list[tuple[float, float, float, float]] = []
        vis_frac: list[float] = []
        trunc: list[float] = []
        flat = uv.reshape(-1, 2)
        lo = np.minimum.reduceat(flat, start[:-1] * 8, axis=0)
        hi = np.maximum.reduceat(flat, start[:-1] * 8, axis=0)
        for v in shown.tolist():
            if visible_px[v] == 0:
                continue
            x1, y1 = lo[v]
            x2, y2 = hi[v]
            cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            hull = cv2.convexHull(flat[start[v] * 8 : start[v + 1] * 8].astype(np.float32))
            full_area = float(cv2.contourArea(hull))
            if x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h:
                inside_area = full_area
            else:
                inside_area = float(cv2.intersectConvexConvex(hull, rect)[0])
            rows.append(v)
            boxes.append((float(cx1), float(cy1), float(cx2), float(cy2)))
            vis_frac.append(min(1.0, float(visible_px[v]) / max(inside_area, 1.0)))
            trunc.append(max(0.0, 1.0 - inside_area / max(full_area, 1e-6)))
        return FrameTruth.build(
            ids=tuple(scene.ids[i] for i in rows),
            xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            class_id=scene.class_id[rows] if rows else np.zeros((0,), np.int64),
            visibility=np.asarray(vis_frac, dtype=np.float32),
            truncation=np.asarray(trunc, dtype=np.float32),
        )
