"""Timestamps carried through the pipeline: monotonic for intervals, wall clock for people."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stamp:
    """A moment, as both a monotonic and a wall-clock reading.

    ``mono`` orders events and measures durations (it never jumps when NTP corrects the clock);
    ``wall`` (Unix seconds, UTC) labels aggregates for people and for central.
    """

    mono: float
    wall: float

    @classmethod
    def now(cls) -> Stamp:
        """The current moment."""
        return cls(mono=time.monotonic(), wall=time.time())

    def shifted(self, seconds: float) -> Stamp:
        """The moment ``seconds`` later (or earlier, if negative)."""
        return Stamp(self.mono + seconds, self.wall + seconds)
