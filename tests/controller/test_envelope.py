"""The envelope's behaviour on concrete sequences: sequence, timing changes, hi-res events."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pytest

from controller.config import PhaseTimings, SignalConfig
from controller.envelope import Envelope, Light, Wish
from controller.errors import TimingRejectedError
from controller.hires import (
    GAP_OUT,
    GREEN_BEGIN,
    GREEN_END,
    MAX_OUT,
    RED_CLEAR_BEGIN,
    RED_CLEAR_END,
    YELLOW_BEGIN,
    YELLOW_END,
    HiResLog,
    to_csv,
)
from controller.scenarios.fourleg import signal_config


def _retime(cfg: SignalConfig, **changes: float) -> SignalConfig:
    phases = [
        p.model_copy(update={"timings": PhaseTimings.model_validate({**p.timings.model_dump(), **changes})})
        for p in cfg.phases
    ]
    return SignalConfig.model_validate({**cfg.model_dump(), "phases": [p.model_dump() for p in phases]})


def _run(env: Envelope, wishes: Sequence[int | None], start: float = 1.0) -> list[dict[int, Light]]:
    return [env.step(Wish(stage=w), start + i).lights for i, w in enumerate(wishes)]


def test_start_up_all_red_then_first_stage() -> None:
    env = Envelope(signal_config(), now=0.0)
    lights = _run(env, [0, 0, 0])
    assert all(light is not Light.GREEN for light in lights[0].values())
    assert lights[1][2] is Light.GREEN  # stage 0 is phase 2, after the 2 s red clearance


def test_change_holds_min_green_then_yellow_red_clearance_then_next_stage() -> None:
    env = Envelope(signal_config(), now=0.0)
    seq = _run(env, [0] + [1] * 30)
    p2 = [s[2] for s in seq]
    p1 = [s[1] for s in seq]
    first_green = p2.index(Light.GREEN)
    yellow = p2.index(Light.YELLOW)
    assert yellow - first_green == 10  # min green of phase 2, although stage 1 was wished at once
    assert p2[yellow:yellow + 3] == [Light.YELLOW] * 3
    assert p2[yellow + 3:yellow + 5] == [Light.RED_CLEAR] * 2
    assert p1.index(Light.GREEN) == yellow + 5


def test_max_green_forces_the_next_stage_and_logs_max_out() -> None:
    env = Envelope(signal_config(), now=0.0)
    seq = _run(env, [0] * 70)
    p2 = [s[2] for s in seq]
    assert p2.count(Light.GREEN) == 60  # max green of phase 2
    codes = [(e.code, e.param) for e in env.log.drain()]
    assert (MAX_OUT, 2) in codes
    i = codes.index((MAX_OUT, 2))
    assert codes[i:i + 3] == [(MAX_OUT, 2), (GREEN_END, 2), (YELLOW_BEGIN, 2)]


def test_hires_sequence_of_a_gap_out() -> None:
    env = Envelope(signal_config(), now=0.0, epoch=1_700_000_000.0)
    for i in range(30):
        env.step(Wish(stage=0 if i < 12 else 1, reason="gap_out"), float(i + 1))
    ev = [(e.code, e.param) for e in env.log.drain() if e.param in (1, 2) and e.code not in (RED_CLEAR_END,)]
    assert ev[:6] == [
        (GREEN_BEGIN, 2), (GAP_OUT, 2), (GREEN_END, 2), (YELLOW_BEGIN, 2), (YELLOW_END, 2), (RED_CLEAR_BEGIN, 2),
    ]
    assert ev[6] == (GREEN_BEGIN, 1)


def test_timing_change_waits_for_the_next_stage_boundary() -> None:
    env = Envelope(signal_config(), now=0.0)
    _run(env, [0] * 5)
    version = env.request_timings(_retime(signal_config(), min_green=20.0, max_green=40.0))
    assert (version, env.plan_version, env.pending is not None) == (2, 1, True)
    seq = _run(env, [1] * 60, start=6.0)
    assert (env.plan_version, env.pending) == (2, None)
    p1 = [s[1] for s in seq]
    # The green in progress kept its old minimum (10 s); the next one, phase 1, got the new 20 s.
    assert p1.count(Light.GREEN) >= 20
    assert env.config.phase(1).timings.min_green == 20.0


def test_timing_change_that_breaks_a_rule_is_refused_with_reasons() -> None:
    env = Envelope(signal_config(), now=0.0)
    bad = _retime(signal_config(), min_green=3.0, yellow=3.0)
    with pytest.raises(TimingRejectedError) as info:
        env.request_timings(bad)
    assert any("min_green 3 s is below the 5 s floor" in r for r in info.value.reasons)
    assert env.pending is None
    moved = signal_config().model_copy(update={"conflicts": [(1, 2)]})
    with pytest.raises(TimingRejectedError, match="conflict matrix differs"):
        env.request_timings(moved)


def test_walk_and_ped_clearance_are_shown_and_finish_before_yellow() -> None:
    cfg = _retime(signal_config(), walk=7.0, ped_clearance=9.0, min_green=8.0)
    env = Envelope(cfg, now=0.0)
    states = [env.step(Wish(stage=1), float(t)) for t in range(1, 60)]
    peds = [s.peds[2].value for s in states if s.lights[2] is Light.GREEN]
    assert peds[:7] == ["walk"] * 7
    assert peds[7:16] == ["clear"] * 9
    assert len(peds) == 16  # green lasted walk + clearance, not just min green (8 s)


def test_hostile_wishes_are_counted_and_ignored() -> None:
    env = Envelope(signal_config(), now=0.0)
    for t, wish in enumerate(["2", Wish(stage=99), Wish(stage=True), object()], start=1):
        env.step(wish, float(t))
    env.step(Wish(stage=0), float("nan"))
    assert env.hostile_inputs == 5


def test_csv_is_atspm_controller_event_log() -> None:
    log = HiResLog(epoch=1_700_000_000.0)
    log.add(0.1, GREEN_BEGIN, 2)
    log.add(12.0, GREEN_END, 2)
    rows = list(csv.reader(io.StringIO(to_csv(log.drain(), signal_id="s1"))))
    assert rows[0] == ["SignalID", "Timestamp", "EventCode", "EventParam"]
    assert rows[1] == ["s1", "2023-11-14 22:13:20.100", "1", "2"]
    assert rows[2][2:] == ["7", "2"]
    assert len(log) == 0


def test_log_is_bounded_and_counts_drops() -> None:
    log = HiResLog(maxlen=3)
    for i in range(5):
        log.add(float(i), GREEN_BEGIN, 1)
    assert len(log) == 3
    assert log.dropped == 2
