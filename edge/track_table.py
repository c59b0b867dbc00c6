"""Per-track state shared by the measure stages: parallel arrays, one row per live track.

Each measure stage (line counters, zones, speeds) needs a little memory per track: which side of
a line it was on, whether it already arrived, where it was a second ago. Keeping that in dicts
costs a Python-level lookup per track per stage per frame; here every stage owns named *columns*
of one table instead, rows are found for a whole frame at once with :func:`numpy.searchsorted`
(track ids are kept sorted; a tracker hands out increasing ids, so new rows are appended), and a
track that ends is removed from every column in one step. Nothing can be forgotten in a corner:
memory is bounded by the number of live tracks.

Example:
    >>> t = TrackTable()
    >>> t.add_column("side", (), np.int8, 0)
    >>> rows = t.observe(np.array([7, 3]), now=0.0)
    >>> t.ids.tolist(), rows.tolist()
    ([3, 7], [1, 0])
    >>> t.expire(now=5.0, horizon_s=1.0).tolist(), len(t)
    ([3, 7], 0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TrackTable:
    """Rows keyed by track id, with columns that measure stages add for their own state."""

    def __init__(self) -> None:
        self.ids: I64 = np.zeros(0, np.int64)
        self.first_seen: F64 = np.zeros(0)
        self.last_seen: F64 = np.zeros(0)
        self._columns: dict[str, npt.NDArray[Any]] = {}
        self._fill: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add_column(self, name: str, tail: tuple[int, ...], dtype: npt.DTypeLike, fill: Any) -> None:
        """Declare a column of shape ``(rows, *tail)``; new rows start as ``fill``."""
        if name in self._columns:
            raise ValueError(f"track table column {name!r} exists already")
        self._columns[name] = np.full((len(self.ids), *tail), fill, dtype=dtype)
        self._fill[name] = fill

    def __contains__(self, name: object) -> bool:
        """Whether a column of that name exists."""
        return name in self._columns

    def col(self, name: str) -> npt.NDArray[Any]:
        """The column array itself (write into it in place with row indices)."""
        return self._columns[name]

    def observe(self, ids: I64, now: float) -> I64:
        """Rows of ``ids`` (created where new), marked as seen at ``now``."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros(0, np.int64)
        rows = np.searchsorted(self.ids, ids)
        found = rows < len(self.ids)
        found[found] = self.ids[rows[found]] == ids[found]
        if not found.all():
            self._append(np.unique(ids[~found]), now)
            rows = np.searchsorted(self.ids, ids)
        self.last_seen[rows] = now
        return np.asarray(rows, dtype=np.int64)

    def _append(self, new: I64, now: float) -> None:
        n = len(new)
        self.ids = np.concatenate([self.ids, new])
        self.first_seen = np.concatenate([self.first_seen, np.full(n, now)])
        self.last_seen = np.concatenate([self.last_seen, np.full(n, now)])
        for name, arr in self._columns.items():
            self._columns[name] = np.concatenate([arr, np.full((n, *arr.shape[1:]), self._fill[name], dtype=arr.dtype)])
        if n and len(self.ids) > n and new[0] <= self.ids[-n - 1]:
            # Ids out of order (not from one increasing tracker): re-sort every column once.
            order = np.argsort(self.ids, kind="stable")
            self._take(order)

    def _take(self, index: npt.NDArray[Any]) -> None:
        self.ids = self.ids[index]
        self.first_seen = self.first_seen[index]
        self.last_seen = self.last_seen[index]
        for name, arr in self._columns.items():
            self._columns[name] = arr[index]

    def expire(self, now: float, horizon_s: float) -> I64:
        """Drop every track unseen for more than ``horizon_s`` (from all columns); return their ids."""
        if len(self.ids):
            keep = now - self.last_seen <= horizon_s
            if not keep.all():
                gone = self.ids[~keep]
                self._take(keep)
                return gone
        return np.zeros(0, np.int64)
