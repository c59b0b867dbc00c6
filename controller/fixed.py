"""Fixed-time control with Webster's cycle and splits from PCU flows (PKJI 2023).

Webster (1958): the delay-minimising cycle is ``C0 = (1.5 L + 5) / (1 - Y)`` where ``L`` is the
lost time per cycle (here the intergreens: yellow plus red clearance after each stage) and ``Y``
the sum over stages of the critical flow ratio ``y = q / S`` (the largest over the stage's
groups). Effective green is shared in proportion to ``y``. Flows ``q`` are in passenger-car
units (PKJI 2023 equivalents: motorcycle 0.15 protected / 0.40 opposed, light 1.0, heavy 1.3) and
saturation flow follows PKJI: ``S0 = 600 x We`` pcu per hour of green, ``We`` the effective
approach width in metres.

Example:
    >>> from controller.scenarios.fourleg import signal_config
    >>> plan = webster(signal_config(), flows={"north": 600, "north_right": 150}, sat={"north": 3900})
    >>> round(plan.cycle) > 0
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from controller.config import SignalConfig
from controller.envelope import Wish
from controller.errors import ControllerError
from controller.policy import ControlState, stage_clearance, stage_groups, stage_max_green, stage_min_green

log = logging.getLogger(__name__)

#: PKJI 2023 base saturation flow per metre of effective approach width (pcu/h of green).
PKJI_S0_PER_M = 600.0


def pkji_saturation(width_m: float) -> float:
    """PKJI 2023 base saturation flow of an approach ``width_m`` metres wide (pcu/h of green)."""
    return PKJI_S0_PER_M * width_m


@dataclass(frozen=True)
class FixedTime:
    """A fixed-time plan: stage greens in sequence, each followed by its clearance.

    Wishes stage ``k`` from the moment the previous stage's clearance would begin until stage
    ``k``'s green ends; the envelope then runs exactly this plan whenever ``greens`` respect
    the phases' minimum and maximum greens.

    Attributes:
        greens: Green time of each stage, in stage order (seconds).
        clearances: Intergreen after each stage (seconds).
        offset: Cycle start (controller clock seconds), for coordination.
        name: Policy name in reports.
    """

    greens: tuple[float, ...]
    clearances: tuple[float, ...]
    offset: float = 0.0
    name: str = "fixed"

    @property
    def cycle(self) -> float:
        """Cycle length in seconds."""
        return sum(self.greens) + sum(self.clearances)

    def stage_at(self, now: float) -> int:
        """The stage the plan wants green (or is clearing towards) at ``now``."""
        pos = (now - self.offset) % self.cycle
        start = 0.0
        for k, (g, c) in enumerate(zip(self.greens, self.clearances, strict=True)):
            if pos < start + g:
                return k
            start += g + c
            if pos < start:
                return (k + 1) % len(self.greens)
        return 0

    def decide(self, state: ControlState, now: float) -> Wish:
        """Wish the scheduled stage."""
        return Wish(stage=self.stage_at(now))


def equal_split(signal: SignalConfig, cycle: float) -> FixedTime:
    """A plan that shares ``cycle`` equally between stages (within min/max green)."""
    clear = stage_clearance(signal)
    n = len(signal.stages)
    g = max(cycle - sum(clear), 0.0) / n
    greens = tuple(min(max(g, lo), hi) for lo, hi in zip(stage_min_green(signal), stage_max_green(signal), strict=True))
    return FixedTime(greens=greens, clearances=tuple(clear), name="fixed")


def webster(
    signal: SignalConfig,
    flows: Mapping[str, float],
    sat: Mapping[str, float],
    *,
    default_sat: float = 1800.0,
    cycle_bounds: tuple[float, float] = (40.0, 180.0),
    cycle_scale: float = 1.0,
) -> FixedTime:
    """Webster's plan for the given flows.

    Args:
        signal: The intersection.
        flows: Detection group -> design flow (pcu/h).
        sat: Detection group -> saturation flow (pcu/h of green); missing ones use ``default_sat``.
        default_sat: Saturation flow for groups absent from ``sat``.
        cycle_bounds: Shortest and longest cycle allowed.
        cycle_scale: Multiplier on Webster's optimum (for tuning against a simulator).

    Raises:
        ControllerError: When no flow is given at all.
    """
    groups = stage_groups(signal)
    clear = stage_clearance(signal)
    ratios = []
    for gs in groups:
        ys = [flows.get(g, 0.0) / sat.get(g, default_sat) for g in gs]
        ratios.append(max(ys, default=0.0))
    if sum(ratios) <= 0:
        raise ControllerError("Webster needs at least one positive flow")
    lost = sum(clear)
    big_y = sum(ratios)
    if big_y >= 0.95:
        log.warning("Webster: flow ratio sum %.2f is at or over capacity; using the longest cycle", big_y)
        c0 = cycle_bounds[1]
    else:
        c0 = (1.5 * lost + 5.0) / (1.0 - big_y)
    cycle = min(max(c0 * cycle_scale, cycle_bounds[0]), cycle_bounds[1])
    effective = max(cycle - lost, 0.0)
    lo, hi = stage_min_green(signal), stage_max_green(signal)
    greens = tuple(min(max(effective * y / big_y, lo[k]), hi[k]) for k, y in enumerate(ratios))
    return FixedTime(greens=greens, clearances=tuple(clear), name="webster")
