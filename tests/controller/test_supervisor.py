"""Health-driven fallback: stale or unhealthy detection hands control to fixed time, and back."""

from __future__ import annotations

import pytest

from controller.config import ControllerConfig
from controller.envelope import Wish
from controller.fixed import equal_split
from controller.observation import ApproachObservation, Observation
from controller.policy import ControlState
from controller.scenarios.fourleg import signal_config
from controller.supervisor import Supervisor


class _Always:
    """A policy that always wants stage 2 (so its influence is visible)."""

    name = "always2"

    def decide(self, state: ControlState, now: float) -> Wish:
        return Wish(stage=2)


class _Broken:
    name = "broken"

    def decide(self, state: ControlState, now: float) -> Wish:
        raise ZeroDivisionError("bug in a policy")


def _obs(t: float, healthy: bool = True) -> Observation:
    return Observation(t=t, groups={"north": ApproachObservation(queue_veh=3.0)}, healthy=healthy)


@pytest.fixture
def sup() -> Supervisor:
    sig = signal_config()
    cfg = ControllerConfig(stale_after_s=5.0, recover_after_s=20.0)
    return Supervisor(sig, cfg, _Always(), equal_split(sig, 80.0))


def test_starts_in_fallback_and_goes_adaptive_after_recover_time(sup: Supervisor) -> None:
    modes = []
    for t in range(1, 40):
        sup.observe(_obs(float(t)))
        modes.append(sup.step(float(t)).fallback)
    assert modes[0] is True
    assert modes.index(False) == 20  # healthy from t=1, adaptive from t=21
    assert not any(modes[20:])


def test_stale_measures_fall_back_at_once_and_recover_only_after_a_healthy_stretch(sup: Supervisor) -> None:
    for t in range(1, 30):
        sup.observe(_obs(float(t)))
        sup.step(float(t))
    assert sup.adaptive
    # The camera stops: the last measures are from t=29.
    states = [sup.step(float(t)) for t in range(30, 40)]
    assert [s.fallback for s in states].index(True) == 5  # stale once older than 5 s (t=35)
    for t in range(40, 50):
        sup.observe(_obs(float(t)))
        assert sup.step(float(t)).fallback
    sup.observe(_obs(50.0, healthy=False))  # the pipeline reports trouble: the healthy clock restarts
    assert sup.step(50.0).fallback
    back = []
    for t in range(51, 80):
        sup.observe(_obs(float(t)))
        back.append(sup.step(float(t)).fallback)
    assert back.index(False) == 20


def test_a_policy_that_raises_means_fallback_and_a_legal_signal(caplog: pytest.LogCaptureFixture) -> None:
    sig = signal_config()
    sup = Supervisor(sig, ControllerConfig(recover_after_s=0.0), _Broken(), equal_split(sig, 80.0))
    sup.observe(_obs(1.0))
    state = sup.step(1.0)
    assert state.fallback
    assert sup.policy_errors == 1
    assert "bug in a policy" in caplog.text
