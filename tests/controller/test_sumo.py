"""A short SUMO run: the envelope's states reach SUMO, and no conflicting greens ever show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.envelope import Light, SignalState
from controller.fixed import webster
from controller.scenarios.catalog import fourleg_case, load_case
from controller.simpang import SimpangAdaptive
from controller.sumo import Case, Intersection, camera_detectors, link_state, run

pytest.importorskip("libsumo")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return fourleg_case(tmp_path_factory.mktemp("fl"), seed=5, duration_s=3600.0, demand_scale=1.0)


def test_envelope_states_reach_sumo_without_conflicting_greens(case: Case, tmp_path: Path) -> None:
    seen: list[str] = []
    problems: list[str] = []

    def check(inter: Intersection, state: SignalState, sumo_state: str) -> None:
        if sumo_state != link_state(inter, state):
            problems.append(f"t={state.now}: SUMO shows {sumo_state}, envelope wants {link_state(inter, state)}")
        seen.append(sumo_state)
        conflicts = {frozenset(c) for c in inter.signal.conflicts}
        showing = [
            p for p in inter.links
            # Protected right of way ('G'); a permissive 'g' yields to the conflicting stream.
            if any(c == "G" and sumo_state[i] == "G" for i, c in enumerate(inter.links[p]))
        ]
        for i, a in enumerate(showing):
            for b in showing[i + 1:]:
                if frozenset((a, b)) in conflicts:
                    problems.append(f"t={state.now}: conflicting phases {a} and {b} both green in {sumo_state}")
        if state.lights and all(light is Light.RED for light in state.lights.values()):
            assert set(sumo_state) == {"r"}

    def make(inter: Intersection) -> tuple[SimpangAdaptive, object]:
        return SimpangAdaptive(inter.signal), webster(inter.signal, inter.design_flows, inter.saturation)

    res = run(case, "simpang", 5, tmp_path, make_policy=make, check=check, end=400.0,  # type: ignore[arg-type]
              hires_csv=tmp_path / "hires.csv")
    assert problems == []
    assert len(set(seen)) >= 6  # several stages, yellows and clearances did show
    assert res.vehicles > 100
    assert res.delay_s > 0
    assert res.decisions == 400
    assert res.fallback_steps == 0
    lines = (tmp_path / "hires.csv").read_text().splitlines()
    assert lines[0] == "SignalID,Timestamp,EventCode,EventParam"
    assert len(lines) == res.hires_events + 1


def test_sumo_own_actuated_program_runs_on_the_same_scenario(case: Case, tmp_path: Path) -> None:
    res = run(case, "sumo_actuated", 5, tmp_path, end=300.0)
    assert res.vehicles > 100
    assert res.decisions == 0
    assert 'type="actuated"' in next(tmp_path.glob("programs_actuated.add.xml")).read_text()


def test_camera_detectors_stop_at_camera_range(case: Case) -> None:
    xml = camera_detectors(case, 75.0)
    lengths = [float(x) for x in re.findall(r'id="cam_[^"]+" lane="[^"]+" pos="[\d.]+" length="([\d.]+)"', xml)]
    assert len(lengths) == 12
    assert max(lengths) == pytest.approx(75.0)


def test_resco_nets_are_read_from_sumo_rl_with_one_controller_per_tls(tmp_path: Path) -> None:
    pytest.importorskip("sumo_rl")
    case = load_case("cologne8", seed=0, workdir=tmp_path)
    assert len(case.intersections) == 8
    assert "sumo_rl" in str(case.net_file)
    assert case.begin == 25200.0
    for inter in case.intersections:
        t = inter.signal.phases[0].timings
        assert t.yellow >= 3.0
        assert t.min_green >= 7.0
        lens = {len(s) for s in inter.links.values()}
        assert len(lens) == 1


def test_resco_movements_name_their_lane_so_a_protected_turn_is_told_from_the_main_stage(tmp_path: Path) -> None:
    pytest.importorskip("sumo_rl")
    case = load_case("cologne8", seed=0, workdir=tmp_path)
    for inter in case.intersections:
        for p in inter.signal.phases:
            assert all(any(m.startswith(lane + "_link") for lane in p.approaches) for m in p.movements)
    # At 32319828 both lanes have a stage of all their links and a protected-left stage.
    inter = next(i for i in case.intersections if i.tls_id == "32319828")
    pol = SimpangAdaptive(inter.signal)
    assert sorted(pol._partial) == [(1, 0), (1, 1)]
    assert pol._share[1] == [0.5, 0.5]


def test_grid4x4_right_turns_keep_the_nets_go_on_red_after_stopping(tmp_path: Path) -> None:
    pytest.importorskip("sumo_rl")
    inter = next(i for i in load_case("grid4x4", seed=0, workdir=tmp_path).intersections if i.tls_id == "A0")
    assert inter.stop_go == frozenset({0, 1, 2, 9, 10, 11, 18, 19, 20, 27, 28, 29})
    all_red = SignalState(now=0.0, stage=0, target=None, lights=dict.fromkeys(inter.links, Light.RED), peds={},
                          green_since=0.0)
    shown = link_state(inter, all_red)
    assert {shown[i] for i in inter.stop_go} == {"s"}  # right turn on red, after a stop
    assert {c for i, c in enumerate(shown) if i not in inter.stop_go} == {"r"}
    first = dict.fromkeys(inter.links, Light.RED) | {1: Light.GREEN}
    shown = link_state(inter, SignalState(now=0.0, stage=0, target=None, lights=first, peds={}, green_since=0.0))
    assert shown[0:3] == "GGG"  # served by phase 1: green, not 's'
    assert shown[9:12] == "sss"
