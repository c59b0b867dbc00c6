"""The safety envelope: the algorithm proposes, the envelope disposes.

Every control algorithm only *wishes* for a stage (:class:`Wish`); the :class:`Envelope` turns
the stream of wishes into legal signal states, whatever the wishes are (valid, out of range,
``None``, garbage) and however time advances (regular, irregular, stalled, going backwards).

Invariants, for every phase and every output state:

* two conflicting phases are never both non-red (green, yellow or red clearance) - in fact only
  the phases of one conflict-free stage are ever green, and no green starts while any other phase
  is still in yellow or red clearance;
* a green lasts at least ``max(min_green, walk + ped_clearance)`` and is left, by starting the
  yellow, at the first step at which it has lasted ``max_green`` (so a green is never shown
  at a step where it has already lasted ``max_green``); a phase that sits in every stage has no
  conflicting phase and is exempt from ``max_green``;
* every green is followed by ``yellow`` and then ``red_clearance`` before any phase starts green;
* the walk interval is shown from green start for ``walk`` seconds, then pedestrian clearance for
  ``ped_clearance`` seconds, and both finish before the phase leaves green.

Design choices that make the invariants hold under any step timing:

* All phases green at one time started together: a stage change that brings in new phases ends
  every green phase (a phase in both stages is cleared and restarts). A change to a subset of the
  current stage just ends the phases left out. So no phase's minimum can hold another past its
  maximum, provided each stage's ``min`` fits under its ``max`` (checked by
  :func:`controller.rules.plan_problems`).
* Durations are measured from the step time at which an interval was observed to start, and an
  interval ends at the first step at or after its duration: intervals can only last longer than
  configured, never shorter (with a 1 s step and whole-second timings they are exact).
* A timing change (:meth:`Envelope.request_timings`) is validated at once and refused with reasons
  (:class:`~controller.errors.TimingRejectedError`); an accepted one waits for the next safe
  boundary: the moment a new stage's greens start, after full clearance.

Every signal change is logged as an Indiana hi-res event (:mod:`controller.hires`).

Example:
    >>> from controller.scenarios.fourleg import signal_config
    >>> env = Envelope(signal_config(), now=0.0)
    >>> [env.step(Wish(stage=0), float(t)).lights[2].value for t in range(1, 4)]
    ['red_clear', 'green', 'green']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from controller.config import SignalConfig
from controller.errors import TimingRejectedError
from controller.hires import (
    GAP_OUT,
    GREEN_BEGIN,
    GREEN_END,
    MAX_OUT,
    PED_CLEAR_BEGIN,
    PED_DONT_WALK_BEGIN,
    PED_WALK_BEGIN,
    RED_CLEAR_BEGIN,
    RED_CLEAR_END,
    YELLOW_BEGIN,
    YELLOW_END,
    HiResLog,
)
from controller.rules import plan_problems


class Light(StrEnum):
    """The vehicle signal of one phase."""

    GREEN = "green"
    YELLOW = "yellow"
    RED_CLEAR = "red_clear"
    RED = "red"


class Ped(StrEnum):
    """The pedestrian signal of one phase."""

    WALK = "walk"
    CLEAR = "clear"
    DONT_WALK = "dont_walk"


@dataclass(frozen=True, slots=True)
class Wish:
    """What an algorithm would like: a stage (index into ``SignalConfig.stages``) to be green.

    ``stage=None`` means no preference (keep the current stage as long as allowed). ``reason``
    is ``"gap_out"`` or ``"max_out"`` when the algorithm ends a green for that actuated reason, so
    the hi-res log records it.
    """

    stage: int | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SignalState:
    """The signal at one step.

    Attributes:
        now: Time of the step (seconds, the envelope's clock).
        stage: Index of the stage now green, or being cleared towards when ``target`` is set.
        target: Index of the stage the intersection is changing to, else ``None``.
        lights: Phase id -> vehicle signal.
        peds: Phase id -> pedestrian signal.
        green_since: Time the current green started (meaningful while some phase is green).
        fallback: Set by the supervisor when the fixed-time fallback is in control.
    """

    now: float
    stage: int
    target: int | None
    lights: dict[int, Light]
    peds: dict[int, Ped]
    green_since: float
    fallback: bool = False

    @property
    def green(self) -> frozenset[int]:
        """Phases green now."""
        return frozenset(p for p, light in self.lights.items() if light is Light.GREEN)

    @property
    def steady(self) -> bool:
        """True when a stage is green and no change is under way."""
        return self.target is None and bool(self.green)

    def green_elapsed(self) -> float:
        """Seconds the current green has lasted (0 during a change)."""
        return self.now - self.green_since if self.steady else 0.0


class Envelope:
    """Turns wishes into legal signal states for one intersection (pure: no I/O).

    Args:
        signal: The intersection's phases, conflicts and stages; refused when
            :func:`~controller.rules.plan_problems` finds a problem.
        now: Start time. All phases start in red clearance, so the first green waits for every
            phase's red clearance (a start-up all-red).
        epoch: Wall-clock time (Unix seconds) of ``now == 0`` for the hi-res log.
    """

    def __init__(self, signal: SignalConfig, now: float = 0.0, epoch: float = 0.0) -> None:
        problems = plan_problems(signal)
        if problems:
            raise TimingRejectedError(problems)
        self._cfg = signal
        self._pending: SignalConfig | None = None
        self.plan_version = 1
        self.log = HiResLog(epoch=epoch)
        self.hostile_inputs = 0
        self._now = float(now) if math.isfinite(now) else 0.0
        self._stage = 0
        self._target: int | None = 0
        self._green_since = self._now
        self._light = {p.id: Light.RED_CLEAR for p in signal.phases}
        self._since = {p.id: self._now for p in signal.phases}
        self._ped = {p.id: Ped.DONT_WALK for p in signal.phases}
        self._index_config()

    def _index_config(self) -> None:
        cfg = self._cfg
        self._timings = {p.id: p.timings for p in cfg.phases}
        self._stage_sets = [frozenset(s) for s in cfg.stages]
        every = frozenset.intersection(*self._stage_sets)
        # A phase in every stage conflicts with no phase that can ever be green: no max green.
        self._no_max = every
        self._min_eff = {
            p.id: max(p.timings.min_green, p.timings.walk + p.timings.ped_clearance) for p in cfg.phases
        }

    @property
    def config(self) -> SignalConfig:
        """The signal config in force."""
        return self._cfg

    @property
    def pending(self) -> SignalConfig | None:
        """An accepted timing change waiting for the next safe boundary."""
        return self._pending

    def request_timings(self, proposed: SignalConfig) -> int:
        """Validate a timing change and schedule it for the next safe boundary.

        Returns:
            The plan version it will carry once in force.

        Raises:
            TimingRejectedError: With every reason, when the change breaks a rule (safety floors,
                a stage whose minimum exceeds a maximum, or a change of phases, movements or
                conflicts, which needs a new site file, not a retiming).
        """
        problems = plan_problems(proposed, self._cfg)
        if problems:
            raise TimingRejectedError(problems)
        self._pending = proposed
        return self.plan_version + 1

    @property
    def state(self) -> SignalState:
        """The signal now."""
        return SignalState(
            now=self._now,
            stage=self._stage,
            target=self._target,
            lights=dict(self._light),
            peds=dict(self._ped),
            green_since=self._green_since,
        )

    def step(self, wish: object, now: float) -> SignalState:
        """Advance to ``now`` and act on ``wish``; returns the legal signal state at ``now``.

        Anything that is not a :class:`Wish` naming an existing stage counts as "no preference"
        (and is counted in :attr:`hostile_inputs` when it is not ``None`` or a valid wish). A time
        that is not finite or earlier than the last step does not advance the clock.
        """
        if isinstance(now, (int, float)) and not isinstance(now, bool) and math.isfinite(now) and now >= self._now:
            self._now = float(now)
        else:
            self.hostile_inputs += 1
        desired, reason = self._sanitize(wish)
        self._advance()
        if self._target is None:
            self._maybe_change(desired, reason)
        self._update_peds()
        return self.state

    def _sanitize(self, wish: object) -> tuple[int | None, str]:
        if wish is None:
            return None, ""
        if not isinstance(wish, Wish):
            self.hostile_inputs += 1
            return None, ""
        stage = wish.stage
        reason = wish.reason if wish.reason in ("gap_out", "max_out") else ""
        if stage is None:
            return None, reason
        if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < len(self._stage_sets):
            self.hostile_inputs += 1
            return None, ""
        return stage, reason

    def _advance(self) -> None:
        now = self._now
        just_yellow: set[int] = set()
        for pid, light in self._light.items():
            t = self._timings[pid]
            if light is Light.YELLOW and now - self._since[pid] >= t.yellow:
                just_yellow.add(pid)
                self._set(pid, Light.RED_CLEAR)
                self.log.add(now, YELLOW_END, pid)
                self.log.add(now, RED_CLEAR_BEGIN, pid)
        for pid, light in self._light.items():
            t = self._timings[pid]
            if light is Light.RED_CLEAR and now - self._since[pid] >= t.red_clearance:
                self._set(pid, Light.RED)
                self.log.add(now, RED_CLEAR_END, pid)
        if self._target is None:
            return
        green = [p for p, light in self._light.items() if light is Light.GREEN]
        elapsed = now - self._green_since
        if any(p not in self._no_max and elapsed >= self._timings[p].max_green for p in green):
            # A phase carried through a change to a subset stage reached its maximum before the
            # others cleared: end every green, so that all greens of the target start together.
            for pid in sorted(green):
                self.log.add(now, MAX_OUT, pid)
                self.log.add(now, GREEN_END, pid)
                self._set(pid, Light.YELLOW)
                self.log.add(now, YELLOW_BEGIN, pid)
        if any(light in (Light.YELLOW, Light.RED_CLEAR) for light in self._light.values()):
            return
        # Safe boundary: every ending phase has finished its clearance.
        target = self._target
        if self._pending is not None:
            self._cfg = self._pending
            self._pending = None
            self.plan_version += 1
            self._index_config()
        starting = [p for p in sorted(self._stage_sets[target]) if self._light[p] is not Light.GREEN]
        if just_yellow.intersection(starting):
            # With no red clearance a restarting phase would go from yellow straight to green;
            # it shows red for at least one step instead.
            return
        if starting:
            self._green_since = now
        for pid in starting:
            self._set(pid, Light.GREEN)
            self.log.add(now, GREEN_BEGIN, pid)
        self._stage = target
        self._target = None

    def _maybe_change(self, desired: int | None, reason: str) -> None:
        now = self._now
        green = frozenset(p for p, light in self._light.items() if light is Light.GREEN)
        current = self._stage_sets[self._stage]
        elapsed = now - self._green_since
        maxed = frozenset(p for p in green if p not in self._no_max and elapsed >= self._timings[p].max_green)
        target = desired if desired is not None and self._stage_sets[desired] != current else None
        forced = False
        if maxed and (target is None or self._stage_sets[target] & maxed):
            target = self._next_stage_without(maxed)
            forced = target is not None
        if target is None:
            return
        new = self._stage_sets[target]
        ending = green if new - green else green - new
        if any(elapsed < self._min_eff[p] for p in ending):
            return
        code = MAX_OUT if forced or reason == "max_out" else GAP_OUT if reason == "gap_out" else 0
        for pid in sorted(ending):
            if code:
                self.log.add(now, code, pid)
            self.log.add(now, GREEN_END, pid)
            self._set(pid, Light.YELLOW)
            self.log.add(now, YELLOW_BEGIN, pid)
        self._target = target

    def _next_stage_without(self, phases: frozenset[int]) -> int | None:
        n = len(self._stage_sets)
        for k in range(1, n + 1):
            cand = (self._stage + k) % n
            if not self._stage_sets[cand] & phases:
                return cand
        return None

    def _update_peds(self) -> None:
        now = self._now
        for pid, light in self._light.items():
            t = self._timings[pid]
            if light is Light.GREEN and t.walk + t.ped_clearance > 0:
                elapsed = now - self._green_since
                ped = Ped.WALK if elapsed < t.walk else Ped.CLEAR if elapsed < t.walk + t.ped_clearance else Ped.DONT_WALK
            else:
                ped = Ped.DONT_WALK
            old = self._ped[pid]
            if ped is not old:
                code = {Ped.WALK: PED_WALK_BEGIN, Ped.CLEAR: PED_CLEAR_BEGIN, Ped.DONT_WALK: PED_DONT_WALK_BEGIN}[ped]
                self.log.add(now, code, pid)
                self._ped[pid] = ped

    def _set(self, pid: int, light: Light) -> None:
        self._light[pid] = light
        self._since[pid] = self._now
