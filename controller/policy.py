"""The policy side of the policy/actuation split: what every control algorithm looks like.

A policy is a small stateful object with one method, ``decide(state, now) -> Wish``: it reads the
latest camera :class:`~controller.observation.Observation` and the current
:class:`~controller.envelope.SignalState`, and says which stage it would like green. It never
touches the signal; the :class:`~controller.envelope.Envelope` decides what is legal.

:class:`GroupMemory` is the bookkeeping most policies share: it ingests each observation once
(the same observation may be seen at several decision steps), and keeps per detection group the
time of the last actuation, the arrivals since the group was last served, and the time a stage
last ended its green.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from controller.config import SignalConfig
from controller.envelope import SignalState, Wish
from controller.observation import ApproachObservation, Observation


@dataclass(frozen=True, slots=True)
class ControlState:
    """What a policy sees at a decision step: the camera's latest view and the signal."""

    obs: Observation | None
    signal: SignalState


class Policy(Protocol):
    """A control algorithm: ``decide(state, now) -> Wish``; no I/O, no access to the signal."""

    @property
    def name(self) -> str:
        """Short name for logs and reports."""
        ...

    def decide(self, state: ControlState, now: float) -> Wish:
        """The stage this policy would like green now."""
        ...


def stage_groups(signal: SignalConfig) -> list[frozenset[str]]:
    """Detection group ids that call and extend each stage (union over the stage's phases)."""
    return [frozenset(g for pid in stage for g in signal.phase(pid).approaches) for stage in signal.stages]


def stage_min_green(signal: SignalConfig) -> list[float]:
    """The shortest green each stage can show (its phases' minimum or pedestrian intervals)."""
    return [
        max(max(t.min_green, t.walk + t.ped_clearance) for t in (signal.phase(p).timings for p in stage))
        for stage in signal.stages
    ]


def stage_max_green(signal: SignalConfig) -> list[float]:
    """The longest green each stage may show."""
    return [min(signal.phase(p).timings.max_green for p in stage) for stage in signal.stages]


def stage_clearance(signal: SignalConfig) -> list[float]:
    """Yellow plus red clearance after each stage (the longest of its phases)."""
    return [
        max(t.yellow + t.red_clearance for t in (signal.phase(p).timings for p in stage)) for stage in signal.stages
    ]


class GroupMemory:
    """Per-group bookkeeping fed by observations (each observation is ingested once).

    Args:
        groups: All detection group ids the policy cares about.
        n_stages: Number of stages (for the served-time table).
    """

    def __init__(self, groups: frozenset[str], n_stages: int) -> None:
        self.groups = groups
        self.latest: dict[str, ApproachObservation] = {}
        self.last_actuation = dict.fromkeys(groups, -math.inf)
        self.waiting_arrivals = dict.fromkeys(groups, 0)
        self.stage_last_served = [0.0] * n_stages
        self._seen_t = -math.inf
        self._prev_stage: int | None = None

    def ingest(self, state: ControlState) -> bool:
        """Take in the state's observation if it is new; returns whether it was."""
        sig = state.signal
        if sig.steady:
            self.stage_last_served[sig.stage] = sig.now
            if self._prev_stage != sig.stage:
                self._prev_stage = sig.stage
        obs = state.obs
        if obs is None or not obs.t > self._seen_t:
            return False
        self._seen_t = obs.t
        for g in self.groups:
            m = obs.groups.get(g)
            if m is None:
                continue
            self.latest[g] = m
            if m.arrived > 0 or m.departures > 0:
                self.last_actuation[g] = obs.t
            self.waiting_arrivals[g] += m.arrived
        return True

    def served(self, groups: frozenset[str]) -> None:
        """Forget the arrivals of groups that have just had their green."""
        for g in groups:
            self.waiting_arrivals[g] = 0

    def queue(self, g: str) -> float:
        """The latest queue (vehicles) of group ``g``, 0 if never seen."""
        m = self.latest.get(g)
        return m.queue_veh if m is not None and math.isfinite(m.queue_veh) and m.queue_veh > 0 else 0.0

    def called(self, g: str) -> bool:
        """Whether group ``g`` has a vehicle waiting or arrived since it was last served."""
        return self.queue(g) > 0 or self.waiting_arrivals[g] > 0

    def has_call(self, groups: frozenset[str]) -> bool:
        """Whether any of these groups has a call (:meth:`called`)."""
        return any(self.called(g) for g in groups)
