"""Indiana traffic signal hi-resolution event log (Sturdevant et al., 2012) and its CSV export.

The envelope records every signal state change with the enumeration's codes; the log is bounded
(oldest events are dropped and counted when nobody drains it) and exports to the CSV layout of
the ATSPM ``Controller_Event_Log`` table (``SignalID,Timestamp,EventCode,EventParam``, timestamp
``YYYY-MM-DD HH:MM:SS.fff`` in UTC), which ATSPM importers and the open-source ATSPM tools read.

Example:
    >>> log = HiResLog(epoch=1_700_000_000.0)
    >>> log.add(12.5, GREEN_BEGIN, 2)
    >>> to_csv(log.drain(), signal_id="simpang-1").splitlines()[1]
    'simpang-1,2023-11-14 22:13:32.500,1,2'
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

from edge.messages import HiResEvent

PHASE_ON = 0
GREEN_BEGIN = 1
GAP_OUT = 4
MAX_OUT = 5
FORCE_OFF = 6
GREEN_END = 7
YELLOW_BEGIN = 8
YELLOW_END = 9
RED_CLEAR_BEGIN = 10
RED_CLEAR_END = 11
PED_WALK_BEGIN = 21
PED_CLEAR_BEGIN = 22
PED_DONT_WALK_BEGIN = 23
DETECTOR_OFF = 81
DETECTOR_ON = 82

CSV_HEADER = ("SignalID", "Timestamp", "EventCode", "EventParam")


class HiResLog:
    """A bounded, time-ordered buffer of hi-res events.

    Args:
        epoch: Unix time (UTC) of controller time 0; event ``ts`` = ``epoch + t``.
        maxlen: Events kept before the oldest are dropped (counted in :attr:`dropped`).
    """

    def __init__(self, epoch: float = 0.0, maxlen: int = 200_000) -> None:
        self.epoch = epoch
        self._events: deque[HiResEvent] = deque(maxlen=maxlen)
        self.dropped = 0

    def add(self, t: float, code: int, param: int) -> None:
        """Record event ``code`` with ``param`` (phase or detector channel) at controller time ``t``."""
        if len(self._events) == self._events.maxlen:
            self.dropped += 1
        self._events.append(HiResEvent(ts=round(self.epoch + t, 3), code=code, param=param))

    def drain(self) -> list[HiResEvent]:
        """All buffered events, oldest first; the buffer is emptied."""
        out = list(self._events)
        self._events.clear()
        return out

    def __len__(self) -> int:
        return len(self._events)


def to_csv(events: Iterable[HiResEvent], signal_id: str) -> str:
    """Events as ATSPM ``Controller_Event_Log`` CSV text (with a header row)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for ev in events:
        stamp = datetime.fromtimestamp(ev.ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        writer.writerow((signal_id, stamp, ev.code, ev.param))
    return buf.getvalue()
