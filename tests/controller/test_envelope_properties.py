"""Property tests: whatever the wishes, clock and timing changes, the envelope's output is legal.

Hypothesis draws the intersection (four-leg, an eight-phase dual-ring layout with overlapping
stages, a layout with pedestrian intervals and a free phase in every stage) with random timings,
and a seed for a hostile input stream: random, out-of-range and non-Wish wishes, ``None``,
irregular steps, stalls, clock jumps, time going backwards or NaN, and random retimings (valid and
invalid). An independent checker replays the output and counts violations. 200 examples x 500
steps = 100,000 steps; the test takes a few seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config import PhaseConfig, PhaseTimings, SignalConfig
from controller.envelope import Envelope, Light, Ped, SignalState, Wish
from controller.errors import TimingRejectedError
from controller.rules import plan_problems
from controller.scenarios.fourleg import signal_config as fourleg_signal

STEPS_PER_EXAMPLE = 500
EXAMPLES = 200


def _dual_ring(timings: list[PhaseTimings]) -> SignalConfig:
    ring = [(1, 2), (5, 6), (3, 4), (7, 8)]
    barrier_a, barrier_b = {1, 2, 5, 6}, {3, 4, 7, 8}
    conflicts = {(a, b) for a, b in ring}
    conflicts |= {(min(a, b), max(a, b)) for a in barrier_a for b in barrier_b}
    phases = [PhaseConfig(id=i, name=f"p{i}", timings=timings[i - 1]) for i in range(1, 9)]
    stages = [[1, 5], [1, 6], [2, 5], [2, 6], [3, 7], [3, 8], [4, 7], [4, 8]]
    return SignalConfig(phases=phases, conflicts=sorted(conflicts), stages=stages)


def _ped_and_free(timings: list[PhaseTimings]) -> SignalConfig:
    phases = [PhaseConfig(id=i, name=f"p{i}", timings=timings[i - 1]) for i in range(1, 5)]
    # Phase 4 conflicts with nobody and runs in every stage (a free turn).
    return SignalConfig(phases=phases, conflicts=[(1, 2), (1, 3), (2, 3)], stages=[[1, 4], [2, 4], [3, 4]])


def _retimed(cfg: SignalConfig, timings: list[PhaseTimings]) -> SignalConfig:
    phases = [p.model_copy(update={"timings": timings[i % len(timings)]}) for i, p in enumerate(cfg.phases)]
    return cfg.model_copy(update={"phases": phases})


@st.composite
def timings_st(draw: st.DrawFn) -> PhaseTimings:
    mn = draw(st.sampled_from([5.0, 7.0, 10.0, 4.5, 12.3]))
    mx = mn + draw(st.sampled_from([0.0, 3.0, 20.0, 45.0, 7.7]))
    walk = draw(st.sampled_from([0.0, 0.0, 4.0, 7.0]))
    clear = draw(st.sampled_from([0.0, 0.0, 3.0, 9.0]))
    if walk + clear > mx:
        walk = clear = 0.0
    return PhaseTimings(
        min_green=mn, max_green=mx, passage=2.0,
        yellow=draw(st.sampled_from([3.0, 3.5, 4.0, 5.2])),
        red_clearance=draw(st.sampled_from([0.0, 1.0, 2.0, 1.5])),
        walk=walk, ped_clearance=clear,
    )


@st.composite
def config_st(draw: st.DrawFn) -> SignalConfig:
    kind = draw(st.sampled_from(["fourleg", "dual_ring", "ped_free"]))
    ts = draw(st.lists(timings_st(), min_size=8, max_size=8))
    if kind == "fourleg":
        cfg = _retimed(fourleg_signal(), ts)
    elif kind == "dual_ring":
        cfg = _dual_ring(ts)
    else:
        cfg = _ped_and_free(ts)
    if plan_problems(cfg):
        # A stage whose minimum exceeds a maximum is refused up front; make it legal instead.
        cfg = _retimed(cfg, [PhaseTimings(min_green=5.0, max_green=40.0, walk=0.0, ped_clearance=0.0)])
    return cfg


@dataclass
class _PhaseTrack:
    light: Light = Light.RED_CLEAR
    since: float = 0.0
    timings: PhaseTimings = field(default_factory=PhaseTimings)
    walk_since: float | None = None


@dataclass
class Checker:
    """Replays output states and records every violated invariant."""

    cfg: SignalConfig
    t0: float
    violations: list[str] = field(default_factory=list)
    tracks: dict[int, _PhaseTrack] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.conflicts = {frozenset(c) for c in self.cfg.conflicts}
        self.every = frozenset.intersection(*(frozenset(s) for s in self.cfg.stages))
        for p in self.cfg.phases:
            self.tracks[p.id] = _PhaseTrack(since=self.t0, timings=p.timings)

    def check(self, s: SignalState, in_force: SignalConfig) -> None:
        t = s.now
        bad = self.violations.append
        # Red clearance is red to road users: conflicting phases may clear together, but no
        # two of them may show green or yellow at once, and no green starts during clearance.
        active = [p for p, light in s.lights.items() if light is Light.GREEN or light is Light.YELLOW]
        for i, a in enumerate(active):
            for b in active[i + 1:]:
                if frozenset((a, b)) in self.conflicts:
                    bad(f"t={t}: conflicting phases {a} and {b} both active")
        green = {p for p, light in s.lights.items() if light is Light.GREEN}
        if green and not any(green <= set(st_) for st_ in self.cfg.stages):
            bad(f"t={t}: green set {green} is no stage")
        starting = [p for p in green if self.tracks[p].light is not Light.GREEN]
        if starting and any(light in (Light.YELLOW, Light.RED_CLEAR) for light in s.lights.values()):
            bad(f"t={t}: green starts while a phase is clearing")
        for pid, light in s.lights.items():
            tr = self.tracks[pid]
            prev, dur = tr.light, t - tr.since
            if light is not prev:
                if light is Light.GREEN and prev is not Light.RED and not (
                    prev is Light.RED_CLEAR and dur >= tr.timings.red_clearance - 1e-9
                ):
                    bad(f"t={t}: phase {pid} {prev}->green")
                if prev is Light.GREEN:
                    mn = max(tr.timings.min_green, tr.timings.walk + tr.timings.ped_clearance)
                    if light is not Light.YELLOW:
                        bad(f"t={t}: phase {pid} green->{light}")
                    if dur < mn - 1e-9:
                        bad(f"t={t}: phase {pid} green {dur:.2f}s < min {mn}")
                if prev is Light.YELLOW:
                    if dur < tr.timings.yellow - 1e-9:
                        bad(f"t={t}: phase {pid} yellow {dur:.2f}s < {tr.timings.yellow}")
                    if light is Light.RED and tr.timings.red_clearance > 0:
                        bad(f"t={t}: phase {pid} skipped red clearance")
                    if light is Light.GREEN:
                        bad(f"t={t}: phase {pid} yellow->green")
                if prev is Light.RED_CLEAR and light is Light.RED and dur < tr.timings.red_clearance - 1e-9:
                    bad(f"t={t}: phase {pid} red clearance {dur:.2f}s < {tr.timings.red_clearance}")
                tr.light, tr.since = light, t
                if light is Light.GREEN or light is Light.YELLOW:
                    tr.timings = in_force.phase(pid).timings if light is Light.GREEN else tr.timings
            elif light is Light.GREEN and pid not in self.every and dur >= tr.timings.max_green + 1e-9:
                bad(f"t={t}: phase {pid} still green after {dur:.2f}s > max {tr.timings.max_green}")
            ped = s.peds[pid]
            if ped is not Ped.DONT_WALK and light is not Light.GREEN:
                bad(f"t={t}: phase {pid} shows {ped} on {light}")
            if ped is Ped.WALK and tr.timings.walk <= 0:
                bad(f"t={t}: phase {pid} walk without a walk interval")


def _hostile_wish(rng: random.Random, n_stages: int, t: int) -> object:
    r = rng.random()
    if r < 0.35:
        return Wish(stage=rng.randrange(n_stages))
    if r < 0.5:
        return Wish(stage=(t // 3) % n_stages, reason=rng.choice(["", "gap_out", "max_out", "??"]))
    if r < 0.6:
        return None
    if r < 0.7:
        return Wish(stage=rng.choice([-1, n_stages, 10**9, -(10**9)]))
    if r < 0.8:
        return Wish(stage=rng.choice([True, 1.5, math.nan, "2"]))  # type: ignore[arg-type]
    if r < 0.9:
        return rng.choice(["stage 1", 3, object(), [1, 2], {"stage": 1}])
    return Wish(stage=None)


def _hostile_dt(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.7:
        return rng.choice([1.0, 1.0, 0.5, 0.25, 2.0])
    if r < 0.85:
        return rng.uniform(0.0, 3.0)
    if r < 0.9:
        return 0.0
    if r < 0.94:
        return rng.uniform(5.0, 200.0)
    if r < 0.97:
        return -rng.uniform(0.1, 50.0)
    return rng.choice([math.nan, math.inf, -math.inf])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=config_st(), seed=st.integers(0, 2**32 - 1), t0=st.sampled_from([0.0, 1e6, 12.5]))
def test_no_violation_under_hostile_inputs(cfg: SignalConfig, seed: int, t0: float) -> None:
    rng = random.Random(seed)
    env = Envelope(cfg, now=t0)
    checker = Checker(cfg, t0)
    clock = t0
    n = len(cfg.stages)
    for t in range(STEPS_PER_EXAMPLE):
        dt = _hostile_dt(rng)
        now = clock + dt if math.isfinite(dt) else dt
        if math.isfinite(now) and now > clock:
            clock = now
        if rng.random() < 0.01:
            scale = rng.choice([0.5, 1.0, 1.5])
            new = _retimed(cfg, [
                p.timings.model_copy(update={"min_green": max(p.timings.min_green * scale, 1.0)})
                for p in cfg.phases
            ])
            if plan_problems(new, cfg):
                with pytest.raises(TimingRejectedError):
                    env.request_timings(new)
            else:
                env.request_timings(new)
        state = env.step(_hostile_wish(rng, n, t), now)
        checker.check(state, env.config)
    assert checker.violations == []
