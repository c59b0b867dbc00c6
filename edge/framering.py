"""Frames between processes through shared memory: only slot numbers and timestamps cross queues.

A :class:`FrameRing` is a fixed set of frame-sized slots in one POSIX shared-memory block, written
by one process (capture) and read by another (detect). Nothing is pickled and nothing grows:

* ``latest`` mode (live cameras): the writer never waits. The reader always takes the newest
  frame; frames it never saw are counted as dropped, so a slow detector costs freshness, never
  memory or latency.
* ``every`` mode (replay, the lock-step digital twin): the writer waits for a free slot, so every
  frame is read, in order.

Each slot is guarded by a sequence lock: the writer makes the slot's sequence odd while writing and
even when done; a reader that sees the sequence change during its copy retries. Doorbells (bounded
semaphores) wake the other side without polling.

Example:
    >>> ring = FrameRing.create((4, 6), slots=3, mode="every")
    >>> ring.write(np.full((4, 6, 3), 7, np.uint8), index=0, mono=1.0, wall=2.0)
    True
    >>> got = ring.read(timeout=1.0)
    >>> int(got.image[0, 0, 0]), got.index
    (7, 0)
    >>> ring.close(); ring.unlink()
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.synchronize import BoundedSemaphore as BoundedSemaphoreT
from typing import Literal

import numpy as np
import numpy.typing as npt

Mode = Literal["latest", "every"]

_HEADER = np.dtype([("written", np.int64), ("consumed", np.int64), ("closed", np.int64), ("_pad", np.int64)])
_SLOT = np.dtype([("seq", np.int64), ("index", np.int64), ("mono", np.float64), ("wall", np.float64)])


@dataclass(frozen=True, slots=True)
class RingFrame:
    """A frame copied out of the ring: the reader owns ``image``."""

    image: npt.NDArray[np.uint8]
    index: int
    mono: float
    wall: float
    dropped: int
    """Frames written since the previous read that this reader never saw (``latest`` mode)."""


@dataclass(frozen=True, slots=True)
class RingHandle:
    """Everything another process needs to attach to a ring (picklable: names, not data)."""

    name: str
    shape: tuple[int, int]
    slots: int
    mode: Mode
    data_ready: BoundedSemaphoreT
    space_ready: BoundedSemaphoreT


class FrameRing:
    """A single-writer, single-reader ring of frames in shared memory."""

    def __init__(self, handle: RingHandle, shm: shared_memory.SharedMemory, owner: bool) -> None:
        self.handle = handle
        self._shm = shm
        self._owner = owner
        h, w = handle.shape
        buf = shm.buf
        assert buf is not None
        self._header = np.ndarray((1,), dtype=_HEADER, buffer=buf, offset=0)
        self._meta = np.ndarray((handle.slots,), dtype=_SLOT, buffer=buf, offset=_HEADER.itemsize)
        data_off = _HEADER.itemsize + _SLOT.itemsize * handle.slots
        self._frames: npt.NDArray[np.uint8] = np.ndarray(
            (handle.slots, h, w, 3), dtype=np.uint8, buffer=buf, offset=data_off
        )
        self._last_read = -1

    @classmethod
    def create(
        cls, shape: tuple[int, int], slots: int = 3, mode: Mode = "latest", ctx: mp.context.BaseContext | None = None
    ) -> FrameRing:
        """Allocate a ring for frames of ``shape`` = (height, width), BGR uint8."""
        if slots < 2:
            raise ValueError("a frame ring needs at least 2 slots")
        h, w = shape
        size = _HEADER.itemsize + _SLOT.itemsize * slots + slots * h * w * 3
        shm = shared_memory.SharedMemory(create=True, size=size)
        np.ndarray((size,), dtype=np.uint8, buffer=shm.buf)[: _HEADER.itemsize + _SLOT.itemsize * slots] = 0
        c = ctx or mp.get_context("spawn")
        handle = RingHandle(shm.name, (h, w), slots, mode, c.BoundedSemaphore(1), c.BoundedSemaphore(1))
        ring = cls(handle, shm, owner=True)
        ring._header["written"] = 0
        return ring

    @classmethod
    def attach(cls, handle: RingHandle) -> FrameRing:
        """Open an existing ring in another process."""
        # Attaching registers the block with the resource tracker again; that is harmless because
        # stage processes are spawned children sharing their parent's tracker, which unlinks
        # leftovers only when the whole process tree is gone. The creator unlinks it normally.
        shm = shared_memory.SharedMemory(name=handle.name)
        return cls(handle, shm, owner=False)

    # -- writer side -------------------------------------------------------------------------
    def write(self, image: npt.NDArray[np.uint8], index: int, mono: float, wall: float, timeout: float | None = None) -> bool:
        """Store one frame. In ``every`` mode, wait for a free slot (up to ``timeout``).

        Returns False when no slot became free in time or the ring is closed.
        """
        if image.shape != (*self.handle.shape, 3):
            raise ValueError(f"frame shape {image.shape} does not fit ring {(*self.handle.shape, 3)}")
        written = int(self._header["written"][0])
        if self.handle.mode == "every":
            deadline = None if timeout is None else time.monotonic() + timeout
            while written - int(self._header["consumed"][0]) >= self.handle.slots:
                if self.closed:
                    return False
                wait = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                if wait <= 0:
                    return False
                self.handle.space_ready.acquire(timeout=wait)
        slot = written % self.handle.slots
        meta = self._meta[slot : slot + 1]
        seq = int(meta["seq"][0])
        meta["seq"] = seq + 1  # odd: writing
        np.copyto(self._frames[slot], image)
        meta["index"] = index
        meta["mono"] = mono
        meta["wall"] = wall
        meta["seq"] = seq + 2  # even: stable
        self._header["written"] = written + 1
        _ring(self.handle.data_ready)
        return True

    def close_writer(self) -> None:
        """Tell the reader no more frames will come."""
        self._header["closed"] = 1
        _ring(self.handle.data_ready)

    # -- reader side -------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> RingFrame | None:
        """The next frame (``every``) or the newest unseen frame (``latest``); None on timeout/close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            written = int(self._header["written"][0])
            if written - 1 > self._last_read:
                frame = self._take(written)
                if frame is not None:
                    return frame
                continue
            if self.closed:
                return None
            wait = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if wait <= 0:
                return None
            self.handle.data_ready.acquire(timeout=wait)

    def _take(self, written: int) -> RingFrame | None:
        # ``every``: the writer may be a full ring ahead, so read in order; ``latest``: newest.
        target = self._last_read + 1 if self.handle.mode == "every" else written - 1
        slot = target % self.handle.slots
        meta = self._meta[slot : slot + 1]
        before = int(meta["seq"][0])
        if before % 2:
            return None  # writer is in this slot right now; retry
        image = self._frames[slot].copy()
        index, mono, wall = int(meta["index"][0]), float(meta["mono"][0]), float(meta["wall"][0])
        if int(meta["seq"][0]) != before:
            return None  # torn: overwritten while copying
        dropped = max(0, target - self._last_read - 1)
        self._last_read = target
        self._header["consumed"] = target + 1
        _ring(self.handle.space_ready)
        return RingFrame(image, index, mono, wall, dropped)

    # -- both ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the writer said no more frames will come."""
        return bool(self._header["closed"][0])

    @property
    def written(self) -> int:
        """Frames written so far."""
        return int(self._header["written"][0])

    def close(self) -> None:
        """Detach from the shared memory (views first, or the buffer cannot be released)."""
        del self._header, self._meta, self._frames
        self._shm.close()

    def unlink(self) -> None:
        """Free the shared memory (creator only, after every process closed it)."""
        if self._owner:
            self._shm.unlink()


def _ring(bell: BoundedSemaphoreT) -> None:
    with contextlib.suppress(ValueError):  # already rung: doorbells coalesce
        bell.release()
