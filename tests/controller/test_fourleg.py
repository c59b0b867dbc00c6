"""The generated four-leg scenario: left-hand geometry, Indonesian demand, phases matching the net."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from controller.errors import ScenarioError
from controller.scenarios import fourleg

sumolib = pytest.importorskip("sumolib")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> fourleg.Scenario:
    return fourleg.build(tmp_path_factory.mktemp("fourleg"), seed=3, duration_s=1200)


def test_net_is_left_hand_with_long_legs_and_a_traffic_light(scenario: fourleg.Scenario) -> None:
    net = sumolib.net.readNet(str(scenario.net_file), withInternal=False)
    assert scenario.tls_id in {t.getID() for t in net.getTrafficLights()}
    assert 'lefthand="true"' in scenario.net_file.read_text()
    for lanes in scenario.approaches.values():
        for lane_id in lanes:
            lane = net.getLane(lane_id)
            assert lane.getLength() >= 200.0
            assert lane.getWidth() == pytest.approx(fourleg.LANE_WIDTH_M)
    # Right turns (crossing opposing traffic when driving on the left) leave from the median lane.
    tls = net.getTLS(scenario.tls_id)
    for in_lane, out_lane, _ in tls.getConnections():
        mid = fourleg.movement_id(in_lane.getEdge().getID().removesuffix("_in"), "right")
        if scenario.movements[mid] == (in_lane.getEdge().getID(), out_lane.getEdge().getID()):
            assert in_lane.getIndex() == 2


def test_every_signalled_connection_is_a_movement_served_by_a_phase(scenario: fourleg.Scenario) -> None:
    net = sumolib.net.readNet(str(scenario.net_file), withInternal=False)
    edges_to_move = {v: k for k, v in scenario.movements.items()}
    served = {m for p in fourleg.signal_config().phases for m in p.movements}
    for in_lane, out_lane, _ in net.getTLS(scenario.tls_id).getConnections():
        move = edges_to_move[(in_lane.getEdge().getID(), out_lane.getEdge().getID())]
        assert move in served
    assert served == set(scenario.movements)


def test_demand_is_two_thirds_motorcycles_and_follows_the_profile(scenario: fourleg.Scenario) -> None:
    text = scenario.route_file.read_text()
    types = Counter(re.findall(r'<vehicle id="[^"]+" type="(\w+)"', text))
    total = sum(types.values())
    assert total > 500
    assert types["motorcycle"] / total == pytest.approx(0.66, abs=0.04)
    assert {"car", "truck", "bus"} <= set(types)
    assert 'vClass="motorcycle"' in text
    departs = [float(x) for x in re.findall(r'depart="([\d.]+)"', text)]
    assert departs == sorted(departs)
    first = sum(1 for d in departs if d < 0.1 * 1200)
    oversat = sum(1 for d in departs if 0.4 * 1200 <= d < 0.5 * 1200)
    assert oversat > 2 * first  # the oversaturated period carries well over twice the opening rate


def test_same_seed_same_routes_other_seed_other_routes(tmp_path: Path, scenario: fourleg.Scenario) -> None:
    again = fourleg.build(tmp_path / "a", seed=3, duration_s=1200)
    other = fourleg.build(tmp_path / "b", seed=4, duration_s=1200)
    assert again.route_file.read_text() == scenario.route_file.read_text()
    assert other.route_file.read_text() != scenario.route_file.read_text()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="duration_s"):
        fourleg.build(tmp_path, seed=0, duration_s=0)
    with pytest.raises(ScenarioError, match="demand_scale"):
        fourleg.build(tmp_path, seed=0, demand_scale=float("nan"))
