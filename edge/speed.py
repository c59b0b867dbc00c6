"""Track speeds, in pixels per second and (with a calibration) metres per second on the ground.

A frame-to-frame difference of a box's bottom edge is mostly detector jitter (a 2-pixel wobble at
25 fps reads as 50 px/s). The speed here is instead the displacement over a window of about one
second divided by its duration: the jitter of the two end points is spread over the whole window,
so a queued vehicle reads near zero and a moving one its real speed. Each track keeps a small ring
of samples, spaced at least ``window_s / samples`` apart, in columns of the shared
:class:`~edge.track_table.TrackTable`, so the estimate is vectorised over a frame and its memory
goes with the track.

Example:
    >>> from edge.track_table import TrackTable
    >>> table = TrackTable(); speeds = SpeedEstimator(table, homography=None)
    >>> for i in range(30):  # 10 px per 0.04 s frame = 250 px/s
    ...     rows = table.observe(np.array([1]), now=i * 0.04)
    ...     px, mps = speeds.update(rows, np.array([[100.0, 10.0 * i]]), now=i * 0.04)
    >>> round(float(px[0])), mps
    (250, None)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.geometry import Homography
from edge.track_table import TrackTable

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class SpeedEstimator:
    """Windowed-displacement speed per track.

    Args:
        table: the shared per-track table; this stage adds its ring-buffer columns to it.
        homography: the camera's image-to-ground mapping, or ``None`` (pixel speeds only).
        window_s: length of the displacement window.
        samples: ring size; samples are spaced at least ``window_s / samples`` apart.
        min_span_s: below this much history a track's speed is unknown (NaN).
    """

    def __init__(
        self,
        table: TrackTable,
        homography: Homography | None,
        window_s: float = 1.0,
        samples: int = 8,
        min_span_s: float = 0.3,
    ) -> None:
        self._table = table
        self.homography = homography
        self.window_s = window_s
        self.samples = samples
        self.min_span_s = min_span_s
        self._spacing = window_s / samples
        table.add_column("speed:t", (samples,), np.float64, np.nan)
        table.add_column("speed:px", (samples, 2), np.float64, np.nan)
        table.add_column("speed:g", (samples, 2), np.float64, np.nan)
        table.add_column("speed:head", (), np.int64, 0)
        table.add_column("speed:vel", (2,), np.float64, np.nan)
        table.add_column("speed:gvel", (2,), np.float64, np.nan)

    def ground(self, anchors: F64) -> F64 | None:
        """Ground positions of anchors in metres, or ``None`` without a calibration."""
        return None if self.homography is None else self.homography.to_ground(anchors)

    def update(self, rows: I64, anchors: F64, now: float, ground: F64 | None = None) -> tuple[F64, F64 | None]:
        """Record positions of ``rows`` at ``now``; return ``(px_per_s, m_per_s or None)`` per row.

        Speeds are NaN for tracks with less than ``min_span_s`` of history. The image velocity
        (px/s, over the same window) is left in the table's ``speed:vel`` column, and the ground
        velocity (m/s, with a calibration) in ``speed:gvel``.
        """
        n = len(rows)
        if n == 0:
            return np.zeros(0), (None if self.homography is None else np.zeros(0))
        if ground is None:
            ground = self.ground(anchors)
        t = self._table.col("speed:t")
        px = self._table.col("speed:px")
        g = self._table.col("speed:g")
        head = self._table.col("speed:head")
        # The newest sample of each row sits just before ``head`` in its ring.
        newest = (head[rows] - 1) % self.samples
        last_t = t[rows, newest]
        take = ~(now - last_t < self._spacing)  # NaN (empty ring) compares False: take it
        w_rows = rows[take]
        slot = head[w_rows]
        t[w_rows, slot] = now
        px[w_rows, slot] = anchors[take]
        if ground is not None:
            g[w_rows, slot] = ground[take]
        head[w_rows] = (slot + 1) % self.samples
        # Oldest sample still inside the window: the earliest time >= now - window_s.
        times = t[rows]
        inside = times >= now - self.window_s - 1e-9
        masked = np.where(inside, times, np.inf)
        oldest = masked.argmin(axis=1)
        t0 = masked[np.arange(n), oldest]
        span = now - t0
        known = np.isfinite(t0) & (span >= self.min_span_s)
        with np.errstate(invalid="ignore", divide="ignore"):
            d_px = anchors - px[rows, oldest]
            v_px = np.where(known, np.hypot(d_px[:, 0], d_px[:, 1]) / span, np.nan)
            self._table.col("speed:vel")[rows] = np.where(known[:, None], d_px / span[:, None], np.nan)
            if ground is None:
                return v_px, None
            d_g = ground - g[rows, oldest]
            v_g = np.where(known, np.hypot(d_g[:, 0], d_g[:, 1]) / span, np.nan)
            self._table.col("speed:gvel")[rows] = np.where(known[:, None], d_g / span[:, None], np.nan)
        return v_px, v_g
