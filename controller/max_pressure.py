"""Max-pressure control (Varaiya 2013) with minimum-green and starvation guards.

The pressure of a stage is the sum, over the detection groups it serves, of the queue upstream
minus the queue downstream. A camera at the intersection sees its approaches, not the next
junction's, and the exits of an isolated junction do not back up, so the downstream term is zero
here. After the current stage's minimum green, the policy switches to the stage with the highest
pressure when that exceeds the current stage's by ``hysteresis`` vehicles. Starvation guard: a
stage with a call that has not been green for ``starve_after_s`` is served next, oldest first.

Example:
    >>> from controller.scenarios.fourleg import signal_config
    >>> MaxPressure(signal_config()).name
    'max_pressure'
"""

from __future__ import annotations

from controller.config import SignalConfig
from controller.envelope import Wish
from controller.policy import ControlState, GroupMemory, stage_groups, stage_min_green


class MaxPressure:
    """Max-pressure stage choice on camera queues."""

    name = "max_pressure"

    def __init__(self, signal: SignalConfig, hysteresis: float = 1.0, starve_after_s: float = 120.0) -> None:
        self._groups = stage_groups(signal)
        self._min = stage_min_green(signal)
        self._mem = GroupMemory(frozenset().union(*self._groups), len(self._groups))
        self.hysteresis = hysteresis
        self.starve_after_s = starve_after_s

    def pressure(self, k: int) -> float:
        """Queue pressure of stage ``k`` (vehicles)."""
        return sum(self._mem.queue(g) for g in self._groups[k])

    def decide(self, state: ControlState, now: float) -> Wish:
        """Keep the current stage through its minimum, then serve the highest pressure."""
        self._mem.ingest(state)
        sig = state.signal
        if not sig.steady:
            return Wish(stage=None)
        cur = sig.stage
        self._mem.served(self._groups[cur])
        if sig.green_elapsed() < self._min[cur]:
            return Wish(stage=cur)
        starving = [
            k for k in range(len(self._groups))
            if k != cur and now - self._mem.stage_last_served[k] > self.starve_after_s and self._mem.has_call(self._groups[k])
        ]
        if starving:
            return Wish(stage=min(starving, key=lambda k: self._mem.stage_last_served[k]))
        best = max(range(len(self._groups)), key=self.pressure)
        if best != cur and self.pressure(best) > self.pressure(cur) + self.hysteresis:
            return Wish(stage=best)
        return Wish(stage=cur)
