"""Building a site's controller in one call, and the simulated cabinet's conflict monitor."""

from __future__ import annotations

import pytest

from controller.actuator import SimulatedCabinet
from controller.config import ControllerConfig
from controller.envelope import Light, SignalState
from controller.errors import ControllerError
from controller.factory import build_supervisor
from controller.fixed import FixedTime
from controller.hires import GREEN_BEGIN
from controller.observation import ApproachObservation, Observation
from controller.scenarios.fourleg import signal_config


@pytest.mark.parametrize(
    ("algorithm", "params", "name"),
    [("fixed", {"cycle_scale": 1.5}, "webster"), ("actuated", {}, "actuated"),
     ("max_pressure", {"hysteresis": 2.0}, "max_pressure"), ("simpang", {"horizon_s": 60.0}, "simpang")],
)
def test_each_algorithm_builds_and_runs_legally(algorithm: str, params: dict[str, float], name: str) -> None:
    cfg = ControllerConfig.model_validate({"algorithm": algorithm, "params": params, "recover_after_s": 0.0})
    sig = signal_config()
    sup = build_supervisor(sig, cfg, now=0.0, epoch=1.7e9, flows={"north": 900.0, "east": 500.0})
    assert sup.policy.name == name
    cab = SimulatedCabinet(sig)
    for t in range(1, 300):
        q = ApproachObservation(queue_veh=float(t % 7), queue_m=float(t % 7) * 5.0)
        sup.observe(Observation(t=float(t), groups={"north": q, "east": q, "south": q, "west": q}))
        cab.apply(sup.step(float(t)))
    assert not cab.flashing
    events = sup.take_events()
    assert any(e.code == GREEN_BEGIN for e in events)
    assert events[0].ts >= 1.7e9
    assert sup.take_events() == []


def test_unknown_params_are_refused_with_the_valid_ones() -> None:
    cfg = ControllerConfig(algorithm="max_pressure", params={"horizon_s": 60.0})
    with pytest.raises(ControllerError, match=r"horizon_s do not apply to max_pressure \(valid: hysteresis"):
        build_supervisor(signal_config(), cfg, now=0.0, epoch=0.0)


def test_fallback_is_equal_split_of_fixed_cycle_without_flows() -> None:
    sup = build_supervisor(signal_config(), ControllerConfig(fixed_cycle_s=100.0), now=0.0, epoch=0.0)
    assert isinstance(sup.fallback, FixedTime)
    assert sup.fallback.name == "fixed"
    assert sup.fallback.cycle == pytest.approx(100.0)


def test_cabinet_conflict_monitor_latches_flash() -> None:
    sig = signal_config()
    cab = SimulatedCabinet(sig)
    bad = SignalState(now=5.0, stage=0, target=None, lights={1: Light.GREEN, 2: Light.YELLOW, 3: Light.RED, 4: Light.RED},
                      peds={}, green_since=0.0)
    cab.apply(bad)
    assert cab.flashing
    assert set(cab.showing.values()) == {Light.RED}
    ok = SignalState(now=6.0, stage=0, target=None, lights={1: Light.GREEN, 2: Light.RED, 3: Light.RED, 4: Light.RED},
                     peds={}, green_since=0.0)
    shown = []
    cab.apply(ok)
    shown.append(cab.showing[1])  # latched until a reset
    cab.reset()
    cab.apply(ok)
    shown.append(cab.showing[1])
    assert shown == [Light.RED, Light.GREEN]
