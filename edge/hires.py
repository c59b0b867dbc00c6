"""Virtual detector events in the Indiana traffic signal hi-resolution data convention.

A stop-line zone behaves like an inductive loop: it switches on when the first vehicle enters it
(event 82, *detector on*) and off when the last one leaves (event 81, *detector off*). The event
parameter is the detector channel. ATSPM-style tools (arrivals on green, split failures, gap
analysis) read these events together with the controller's phase events.

Example:
    >>> from edge.clock import Stamp
    >>> det = PresenceDetector(channel=3)
    >>> [(e.code, e.param) for e in det.update(True, Stamp(0.0, 100.0))]
    [(82, 3)]
    >>> det.update(True, Stamp(0.04, 100.04)), [e.code for e in det.update(False, Stamp(0.08, 100.08))]
    ([], [81])
"""

from __future__ import annotations

from edge.clock import Stamp
from edge.messages import HiResEvent

DETECTOR_OFF = 81
DETECTOR_ON = 82


class PresenceDetector:
    """On/off state of one virtual presence detector.

    Args:
        channel: detector channel number (1..255), the event parameter.
    """

    def __init__(self, channel: int) -> None:
        if not 1 <= channel <= 255:
            raise ValueError(f"detector channel must be 1..255, got {channel}")
        self.channel = channel
        self.on = False

    def update(self, occupied: bool, stamp: Stamp) -> list[HiResEvent]:
        """Events caused by the zone being ``occupied`` at ``stamp`` (none if unchanged)."""
        if occupied == self.on:
            return []
        self.on = occupied
        code = DETECTOR_ON if occupied else DETECTOR_OFF
        return [HiResEvent(ts=round(stamp.wall, 3), code=code, param=self.channel)]
