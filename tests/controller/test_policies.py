"""Control algorithms on hand-made camera observations."""

from __future__ import annotations

import pytest

from controller.actuated import Actuated
from controller.config import PhaseConfig, PhaseTimings, SignalConfig
from controller.envelope import Envelope, Light, SignalState, Wish
from controller.errors import ControllerError
from controller.fixed import FixedTime, pkji_saturation, webster
from controller.max_pressure import MaxPressure
from controller.observation import ApproachObservation, Observation
from controller.policy import ControlState
from controller.scenarios.fourleg import signal_config
from controller.simpang import SimpangAdaptive
from models.classes import VehicleClass


def _two_phase() -> SignalConfig:
    t = PhaseTimings(min_green=7.0, max_green=60.0, yellow=3.0, red_clearance=2.0)
    return SignalConfig(
        phases=[PhaseConfig(id=2, name="ns", approaches=["ns"], timings=t),
                PhaseConfig(id=4, name="ew", approaches=["ew"], timings=t)],
        conflicts=[(2, 4)], stages=[[2], [4]],
    )


def _green(stage: int, since: float, now: float, phases: tuple[int, ...] = (2, 4)) -> SignalState:
    env_phases = signal_config().stages if phases == (1, 2, 3, 4) else [[2], [4]]
    lights = dict.fromkeys(phases, Light.RED)
    for p in env_phases[stage]:
        lights[p] = Light.GREEN
    return SignalState(now=now, stage=stage, target=None, lights=lights, peds={}, green_since=since)


def _obs(t: float, **groups: ApproachObservation) -> Observation:
    return Observation(t=t, groups=groups)


def test_webster_cycle_and_splits_follow_the_formula() -> None:
    sig = _two_phase()
    sat = {"ns": pkji_saturation(7.0), "ew": pkji_saturation(7.0)}  # 4200 pcu/h
    plan = webster(sig, flows={"ns": 1680.0, "ew": 840.0}, sat=sat)
    # y = 0.4 and 0.2, Y = 0.6, L = 2 x 5 s: C0 = (1.5 x 10 + 5) / 0.4 = 50 s
    assert plan.cycle == pytest.approx(50.0)
    assert plan.greens == pytest.approx((40.0 * 0.4 / 0.6, 40.0 * 0.2 / 0.6))
    with pytest.raises(ControllerError):
        webster(sig, flows={}, sat=sat)


def test_fixed_time_wishes_follow_the_cycle_and_run_exactly_through_the_envelope() -> None:
    plan = FixedTime(greens=(20.0, 10.0), clearances=(5.0, 5.0))
    assert [plan.stage_at(t) for t in (0, 19.9, 20, 25, 34.9, 35, 40)] == [0, 0, 1, 1, 1, 0, 0]
    env = Envelope(_two_phase(), now=-5.0)  # start-up red clearance ends at t=-3
    greens = []
    for t in range(0, 125):
        s = env.step(plan.decide(ControlState(None, env.state), float(t)), float(t))
        greens.append(s.lights[2] is Light.GREEN)
    starts = [t for t in range(1, 125) if greens[t] and not greens[t - 1]]
    assert starts == [40, 80, 120]  # the 40 s cycle
    assert sum(greens[40:80]) == 20  # and the planned 20 s green


def test_actuated_extends_on_actuations_and_gaps_out_to_a_stage_with_a_call() -> None:
    pol = Actuated(_two_phase())
    busy = ApproachObservation(queue_veh=2, arrivals={VehicleClass.CAR: 1}, departures=1)
    quiet = ApproachObservation()
    waiting = ApproachObservation(queue_veh=4)
    # Past min green, vehicles keep coming: extend.
    w = pol.decide(ControlState(_obs(10.0, ns=busy, ew=waiting), _green(0, 0.0, 10.0)), 10.0)
    assert w == Wish(stage=0)
    # No actuation for longer than the passage time (2.5 s): gap out to the waiting stage.
    for t in (11.0, 12.0, 13.0):
        w = pol.decide(ControlState(_obs(t, ns=quiet, ew=waiting), _green(0, 0.0, t)), t)
    assert w == Wish(stage=1, reason="gap_out")


def test_actuated_rests_in_green_without_calls() -> None:
    pol = Actuated(_two_phase())
    q = ApproachObservation()
    for t in (10.0, 20.0, 30.0):
        w = pol.decide(ControlState(_obs(t, ns=q, ew=q), _green(0, 0.0, t)), t)
    assert w == Wish(stage=0)


def test_max_pressure_serves_the_longest_queue_and_guards_starvation() -> None:
    pol = MaxPressure(_two_phase(), starve_after_s=100.0)
    small, big = ApproachObservation(queue_veh=2), ApproachObservation(queue_veh=9)
    assert pol.decide(ControlState(_obs(3.0, ns=small, ew=big), _green(0, 0.0, 3.0)), 3.0) == Wish(stage=0)  # min green
    assert pol.decide(ControlState(_obs(8.0, ns=small, ew=big), _green(0, 0.0, 8.0)), 8.0) == Wish(stage=1)
    # Stage 0 holds a bigger queue but stage 1 has waited longer than 100 s: stage 1 goes next.
    pol2 = MaxPressure(_two_phase(), starve_after_s=100.0)
    w = pol2.decide(ControlState(_obs(150.0, ns=big, ew=small), _green(0, 0.0, 150.0)), 150.0)
    assert w == Wish(stage=1)


def test_simpang_finishes_a_discharging_queue_but_leaves_an_empty_green() -> None:
    pol = SimpangAdaptive(_two_phase())
    discharging = ApproachObservation(queue_veh=8, queue_m=40.0, departures=1)
    few = ApproachObservation(queue_veh=2, queue_m=10.0)
    w = pol.decide(ControlState(_obs(12.0, ns=discharging, ew=few), _green(0, 0.0, 12.0)), 12.0)
    assert w == Wish(stage=0)
    pol = SimpangAdaptive(_two_phase())
    empty = ApproachObservation()
    long = ApproachObservation(queue_veh=12, queue_m=60.0)
    w = pol.decide(ControlState(_obs(12.0, ns=empty, ew=long), _green(0, 0.0, 12.0)), 12.0)
    assert w.stage == 1


def test_simpang_estimates_a_hidden_backlog_beyond_camera_range() -> None:
    pol = SimpangAdaptive(_two_phase(), camera_range_m=75.0)
    for t in range(1, 61):  # learn the arrival rate: one car every 2 s
        arr = {VehicleClass.CAR: 1} if t % 2 else {}
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ApproachObservation(queue_veh=3, queue_m=15, arrivals=arr)),
                                _green(0, 0.0, float(t))), float(t))
    seen = ApproachObservation(queue_veh=14, queue_m=75.0)  # the queue fills the view
    for t in range(61, 91):
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=seen), _green(0, 0.0, float(t))), float(t))
    q_ew = pol.queues()[pol._gidx["ew"]]
    assert q_ew > 14 + 5  # about 0.5 veh/s x 30 s beyond view, well above what the camera sees


def test_simpang_detects_spill_back_against_a_short_view() -> None:
    # A 30 m lane: a queue filling it is spilling back although it is far below the 75 m range.
    pol = SimpangAdaptive(_two_phase(), camera_range_m=75.0)
    for t in range(1, 61):
        arr = {VehicleClass.CAR: 1} if t % 2 else {}
        ew = ApproachObservation(queue_veh=1, queue_m=5, arrivals=arr, view_m=30.0)
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ew), _green(0, 0.0, float(t))), float(t))
    full = ApproachObservation(queue_veh=5, queue_m=28.0, view_m=30.0)
    for t in range(61, 91):
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=full), _green(0, 0.0, float(t))), float(t))
    assert pol.queues()[pol._gidx["ew"]] > 5 + 5


def test_simpang_takes_the_cameras_count_of_vehicles_in_view_over_arrivals_minus_departures() -> None:
    # Broken tracks count one vehicle as two arrivals: summed, the vehicles 'moving' in view drift
    # upward for ever. A camera that also counts what is in view now corrects it at once.
    drifting, counted = SimpangAdaptive(_two_phase()), SimpangAdaptive(_two_phase())
    for t in range(1, 61):
        arr = {VehicleClass.CAR: 2} if t % 4 == 0 else {}  # one real vehicle, two arrivals
        left = 1 if t % 4 == 2 else 0
        for pol, in_view in ((drifting, None), (counted, 1.0)):
            ew = ApproachObservation(queue_veh=1, queue_m=5.0, arrivals=arr, departures=left, in_view=in_view)
            pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ew), _green(0, 0.0, float(t))), float(t))
    assert drifting.inview[drifting._gidx["ew"]] > 10.0
    assert counted.inview[counted._gidx["ew"]] == 1.0
    # The count never goes below the queue the camera sees.
    ew = ApproachObservation(queue_veh=4, queue_m=20.0, in_view=2.0)
    counted.decide(ControlState(_obs(61.0, ns=ApproachObservation(), ew=ew), _green(0, 0.0, 61.0)), 61.0)
    assert counted.inview[counted._gidx["ew"]] == 4.0


@pytest.mark.parametrize(("view_m", "kept"), [(9.0, True), (None, False)])
def test_simpang_keeps_the_hidden_backlog_while_a_short_view_discharges(view_m: float | None, kept: bool) -> None:
    # A camera that sees 9 m of the approach shows no queue once the queue moves: only the
    # departures tell that the hidden part of it is still coming. A full view shows the queue.
    pol = SimpangAdaptive(_two_phase(), camera_range_m=75.0)
    spill_m = 9.0 if view_m else 75.0
    for t in range(1, 61):  # one car every 2 s, no queue
        arr = {VehicleClass.CAR: 1} if t % 2 else {}
        ew = ApproachObservation(arrivals=arr, view_m=view_m)
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ew), _green(0, 0.0, float(t))), float(t))
    for t in range(61, 91):  # red: the queue fills the view and grows beyond it
        ew = ApproachObservation(queue_veh=2, queue_m=spill_m, view_m=view_m)
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ew), _green(0, 0.0, float(t))), float(t))
    hidden, lam = pol.hidden[pol._gidx["ew"]], pol.lam[pol._gidx["ew"]]
    assert hidden > 8.0  # about the learned 0.33 veh/s over 30 s
    for t in range(91, 96):  # green: the queue moves, one vehicle a second crosses the stop line
        ew = ApproachObservation(arrivals={VehicleClass.CAR: 1}, departures=1, view_m=view_m)
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ew), _green(1, 91.0, float(t))), float(t))
    assert pol.hidden[pol._gidx["ew"]] == (pytest.approx(hidden - 5.0) if kept else 0.0)
    # The backlog moving up into view is not new demand: the arrival rate holds while it drains.
    assert (pol.lam[pol._gidx["ew"]] == lam) is kept
    for t in range(96, 101):  # the departures stop: the backlog has gone
        ew = ApproachObservation(view_m=view_m)
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=ew), _green(1, 91.0, float(t))), float(t))
    assert pol.hidden[pol._gidx["ew"]] == 0.0


def test_simpang_gives_every_group_the_same_discharge_rate() -> None:
    # 'ns' has two lanes and shows two crossings a second; 'ew' one lane, never more than one.
    pol = SimpangAdaptive(_two_phase())
    two = ApproachObservation(queue_veh=6, queue_m=20.0, departures=2)
    for t in range(1, 41):
        pol.decide(ControlState(_obs(float(t), ns=two, ew=ApproachObservation()), _green(0, 0.0, float(t))), float(t))
    one = ApproachObservation(queue_veh=6, queue_m=30.0, departures=1)
    for t in range(41, 81):
        pol.decide(ControlState(_obs(float(t), ns=ApproachObservation(), ew=one), _green(1, 41.0, float(t))), float(t))
    ns, ew = pol.sat[pol._gidx["ns"]], pol.sat[pol._gidx["ew"]]
    assert ns > 1.8
    assert ew < 1.1
    # The rollout serves both at the higher rate, so the lane count does not rank them.
    assert pol.discharge_rate() == pytest.approx(ns)
    q = [10.0, 10.0]
    assert pol._rollout(q, [0.0, 0.0], 0, 30.0, 1) == pytest.approx(pol._rollout(q, [0.0, 0.0], 1, 30.0, 0))


def _overlapping() -> SignalConfig:
    """Three stages as in the RESCO programs: 'a' is served by stages 0 and 1, 'b' only by 2."""
    t = PhaseTimings(min_green=7.0, max_green=60.0, yellow=3.0, red_clearance=0.0)
    return SignalConfig(
        phases=[PhaseConfig(id=1, name="a+c", approaches=["a", "c"], timings=t),
                PhaseConfig(id=2, name="a", approaches=["a"], timings=t),
                PhaseConfig(id=3, name="b", approaches=["b"], timings=t)],
        conflicts=[(1, 2), (1, 3), (2, 3)], stages=[[1], [2], [3]],
    )


def _stage_green(stage: int, since: float, now: float) -> SignalState:
    lights = dict.fromkeys((1, 2, 3), Light.RED)
    lights[stage + 1] = Light.GREEN
    return SignalState(now=now, stage=stage, target=None, lights=lights, peds={}, green_since=since)


def test_simpang_starvation_is_judged_per_group_not_per_stage() -> None:
    # Stage 1 has not been green for 200 s, but its only group 'a' is served by stage 0 all
    # along: nothing starves, and the rollout keeps serving the long queue of 'a' and 'c'.
    pol = SimpangAdaptive(_overlapping(), starve_after_s=150.0)
    busy = ApproachObservation(queue_veh=10, queue_m=50.0, arrivals={VehicleClass.CAR: 1}, departures=1)
    one = ApproachObservation(queue_veh=0, arrivals={VehicleClass.CAR: 1})
    w = Wish(stage=None)
    for t in range(1, 201):
        w = pol.decide(ControlState(_obs(float(t), a=busy, c=busy, b=ApproachObservation()),
                                    _stage_green(0, float(t) - 20.0, float(t))), float(t))
    assert w == Wish(stage=0)
    # Group 'b' has had a call and no green for more than 150 s: the one stage serving it is next.
    w = pol.decide(ControlState(_obs(201.0, a=busy, c=busy, b=one), _stage_green(0, 181.0, 201.0)), 201.0)
    assert w == Wish(stage=2, reason="max_out")


def _split_approaches() -> SignalConfig:
    """One zone per approach, as a camera draws them: the through and the right-turn stage both serve 'east'."""
    t = PhaseTimings(min_green=7.0, max_green=60.0, yellow=3.0, red_clearance=0.0)
    return SignalConfig(
        phases=[PhaseConfig(id=1, name="through", approaches=["east"], movements=["east_through", "east_left"], timings=t),
                PhaseConfig(id=2, name="right", approaches=["east"], movements=["east_right"], timings=t),
                PhaseConfig(id=3, name="north", approaches=["north"], movements=["north_through"], timings=t)],
        conflicts=[(1, 2), (1, 3), (2, 3)], stages=[[1], [2], [3]],
    )


def test_a_stage_serves_the_share_of_an_approach_its_movements_carry() -> None:
    pol = SimpangAdaptive(_split_approaches())
    east, north = pol._gidx["east"], pol._gidx["north"]
    assert pol._share[0][east] == pytest.approx(2 / 3)
    assert pol._share[1][east] == pytest.approx(1 / 3)
    assert pol._share[2][north] == 1.0
    # From the north stage, with a long queue on 'east', the rollout goes to the through stage,
    # which clears more of it, not to the right-turn stage (which it once took as just as good).
    q = [0.0, 0.0]
    q[east] = 30.0
    cost_through = pol._rollout(q, [0.0, 0.0], 2, 20.0, 0)
    cost_right = pol._rollout(q, [0.0, 0.0], 2, 20.0, 1)
    assert cost_through < cost_right


def test_groups_that_movements_do_not_name_are_served_whole() -> None:
    pol = SimpangAdaptive(_overlapping())  # RESCO-like: lanes as groups, no movements named
    assert all(s == 1.0 for row in pol._share for s in row)


def _protected_left() -> SignalConfig:
    """A shared lane 'a' (right, through, left) as in RESCO's cologne programs: the main stage
    carries all three movements, the next only the left turn, protected; 'b' has a stage of its own."""
    t = PhaseTimings(min_green=7.0, max_green=60.0, yellow=3.0, red_clearance=0.0)
    return SignalConfig(
        phases=[PhaseConfig(id=1, name="main", approaches=["a"], movements=["a_r", "a_s", "a_l"], timings=t),
                PhaseConfig(id=2, name="left", approaches=["a"], movements=["a_l"], timings=t),
                PhaseConfig(id=3, name="b", approaches=["b"], movements=["b_s"], timings=t)],
        conflicts=[(1, 2), (1, 3), (2, 3)], stages=[[1], [2], [3]],
    )


def test_a_stage_carrying_all_of_a_groups_movements_serves_it_whole() -> None:
    pol = SimpangAdaptive(_protected_left())
    a = pol._gidx["a"]
    # Shares are of the group's distinct movements: the main stage carries all three.
    assert pol._share[0][a] == 1.0
    assert pol._share[1][a] == pytest.approx(1 / 3)
    # Only the protected-turn stage, which shares its movement with the main stage, is learned;
    # a split without overlap keeps its movement shares (and nothing is learned there).
    assert pol._partial == {(1, a)}
    assert SimpangAdaptive(_split_approaches())._partial == set()
    assert SimpangAdaptive(_overlapping())._partial == set()


@pytest.mark.parametrize(("left_stage_departures", "expect_low"), [(0, True), (1, False)])
def test_simpang_learns_how_much_of_a_shared_lane_a_protected_turn_stage_moves(
    left_stage_departures: int, expect_low: bool,
) -> None:
    pol = SimpangAdaptive(_protected_left())
    a = pol._gidx["a"]

    def green(stage: int, t0: float, t1: float, departures: int) -> float:
        for t in range(int(t0), int(t1)):
            obs = _obs(float(t), a=ApproachObservation(queue_veh=6, queue_m=40.0, departures=departures),
                       b=ApproachObservation())
            pol.decide(ControlState(obs, _stage_green(stage, t0, float(t))), float(t))
        return t1

    t = 1.0
    for _ in range(10):
        # The main stage discharges the lane at one vehicle a second; the protected left turn
        # either stands behind a through vehicle at the head (nothing crosses) or moves as fast.
        t = green(0, t, t + 30.0, 1)
        t = green(1, t, t + 30.0, left_stage_departures)
    assert pol._share[0][a] == 1.0
    if expect_low:
        assert pol._share[1][a] < 0.1
    else:
        assert pol._share[1][a] > 0.9
