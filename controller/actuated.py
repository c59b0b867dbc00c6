"""Fully actuated control: gap-out and max-out, as in the FHWA Signal Timing Manual (2nd ed.).

Each stage, once green, holds its minimum green; afterwards every actuation on its detection
groups (a vehicle entering the camera's view, or crossing the stop line) restarts the passage
timer, and the stage gaps out when the passage time runs without an actuation. The envelope's
maximum green ends it otherwise (max-out). The next stage is the next one in sequence that has a
call (a queued vehicle or an arrival since it was last served); stages without calls are skipped,
and with no call anywhere the signal rests in the current green.

Example:
    >>> from controller.scenarios.fourleg import signal_config
    >>> Actuated(signal_config()).name
    'actuated'
"""

from __future__ import annotations

from controller.config import SignalConfig
from controller.envelope import Wish
from controller.policy import ControlState, GroupMemory, stage_groups, stage_min_green


class Actuated:
    """Gap-out / max-out actuated control on camera actuations."""

    name = "actuated"

    def __init__(self, signal: SignalConfig) -> None:
        self._groups = stage_groups(signal)
        self._min = stage_min_green(signal)
        self._passage = [max(signal.phase(p).timings.passage for p in stage) for stage in signal.stages]
        self._mem = GroupMemory(frozenset().union(*self._groups), len(self._groups))

    def decide(self, state: ControlState, now: float) -> Wish:
        """Hold, extend, or gap out to the next stage with a call."""
        self._mem.ingest(state)
        sig = state.signal
        if not sig.steady:
            return Wish(stage=None)
        cur = sig.stage
        self._mem.served(self._groups[cur])
        if sig.green_elapsed() < self._min[cur]:
            return Wish(stage=cur)
        last = max((self._mem.last_actuation[g] for g in self._groups[cur]), default=float("-inf"))
        if now - last < self._passage[cur]:
            return Wish(stage=cur)
        n = len(self._groups)
        for k in range(1, n):
            cand = (cur + k) % n
            if self._mem.has_call(self._groups[cand]):
                return Wish(stage=cand, reason="gap_out")
        return Wish(stage=cur)
