"""Control stage: live camera measures drive the site's controller; stale measures fall back."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import yaml

from controller.config import SignalConfig
from controller.envelope import Light
from controller.scenarios.fourleg import signal_config
from edge.config import SiteConfig
from edge.config_loader import load_site, parse_site
from edge.control import ControlStage, observation_from_live
from edge.measure import LiveApproach, SiteMeasures

APPROACHES = ("north", "east", "south", "west")


def _site(recover_after_s: float = 5.0) -> SiteConfig:
    signal = signal_config().model_dump(mode="json")
    for phase in signal["phases"]:
        phase["movements"] = []  # this site counts no turning movements
    doc = {
        "site_id": "t",
        "cameras": [{"id": "c", "source": "x.mp4", "frame_size": [640, 360]}],
        "model": {"path": "m.onnx"},
        "approaches": [{"id": a, "camera": "c"} for a in APPROACHES],
        "signal": signal,
        "controller": {"algorithm": "simpang", "stale_after_s": 3.0, "recover_after_s": recover_after_s},
    }
    return parse_site(yaml.safe_dump(doc))


def _live(queues: dict[str, int]) -> dict[str, LiveApproach]:
    return {
        a: LiveApproach(approach=a, window_s=1.0, occupied=q > 0, occupancy=min(1.0, q / 5), queue_veh=q,
                        queue_m=7.0 * q, arrivals={"motorcycle": q, "car": 1}, stop_line_crossings={"car": 1})
        for a, q in queues.items()
    }


def _conflicting_greens(signal: SignalConfig, lights: dict[int, Light]) -> list[tuple[int, int]]:
    green = [p for p, light in lights.items() if light == Light.GREEN]
    conflicts = {frozenset(c) for c in signal.conflicts}
    return [(a, b) for a, b in itertools.combinations(green, 2) if frozenset((a, b)) in conflicts]


def test_observation_from_live_carries_camera_measures() -> None:
    obs = observation_from_live(12.0, _live({"north": 4}))
    north = obs.groups["north"]
    assert (obs.t, north.queue_veh, north.queue_m, north.departures) == (12.0, 4.0, 28.0, 1)
    assert north.arrived == 5
    assert north.view_m is None  # no calibrated queue zone: the controller assumes its full range
    assert north.in_view is None  # no zones counted: the controller keeps its own count
    short = {"south": dataclasses.replace(_live({"south": 2})["south"], view_m=9.5, in_view=3)}
    south = observation_from_live(13.0, short).groups["south"]
    assert (south.view_m, south.in_view) == (9.5, 3.0)


def test_the_twin_site_tells_the_controller_how_far_it_sees() -> None:
    """The corner pole sees the near approaches for only their first metres: a queue that fills
    that view may go on unseen, which the controller must know to keep its green."""
    site = load_site(Path(__file__).resolve().parents[2] / "edge" / "sites" / "twin_fourleg.yaml")
    live = SiteMeasures(site, "pole").live()
    views = {a: live[a].view_m or 0.0 for a in ("north", "east", "south", "west")}
    assert all(v > 0.0 for v in views.values()), views
    assert views["south"] < 15.0
    assert views["north"] > 40.0
    obs = observation_from_live(1.0, live)
    assert obs.groups["south"].view_m == views["south"]


def test_starts_in_fallback_goes_adaptive_when_healthy_and_back_when_stale() -> None:
    site = _site(recover_after_s=5.0)
    assert site.signal is not None
    stage = ControlStage(site, now=0.0, epoch=1_700_000_000.0)
    modes: list[str] = [stage.mode]
    for t in range(1, 60):
        stage.observe(float(t), _live({"north": 8, "south": 6, "east": 1, "west": 0}))
        state = stage.step(float(t))
        assert not _conflicting_greens(site.signal, state.lights)
        modes.append(stage.mode)
    assert modes[0] == "fallback"
    assert modes[-1] == "adaptive"
    # The camera goes quiet: after stale_after_s the controller must be back on fixed time.
    for t in range(60, 70):
        state = stage.step(float(t))
        assert not _conflicting_greens(site.signal, state.lights)
    modes.append(stage.mode)
    assert modes[-1] == "fallback"
    events = stage.take_events()
    assert events, "signal changes must be logged as hi-res events"
    assert {e.code for e in events} >= {1, 8, 10}  # green begin, yellow begin, red clearance begin
    assert all(e.ts > 1_700_000_000.0 for e in events)
    assert stage.take_events() == []


def test_runtime_applies_a_pushed_plan_at_a_safe_boundary_and_acknowledges() -> None:
    from pathlib import Path  # noqa: PLC0415

    from edge.messages import ConfigAck, ConfigPush  # noqa: PLC0415
    from edge.runtime import EdgeRuntime, RuntimeOptions  # noqa: PLC0415

    site = _site(recover_after_s=0.0)
    assert site.signal is not None
    rt = EdgeRuntime(site, RuntimeOptions(site_path=Path("unused.yaml")))
    rt._control = ControlStage(site, now=0.0, epoch=1_700_000_000.0)
    acks: list[ConfigAck] = []
    longer = site.signal.model_copy(update={"phases": [
        p.model_copy(update={"timings": p.timings.model_copy(update={"max_green": p.timings.max_green + 10})})
        for p in site.signal.phases
    ]})
    rt.schedule_plan(ConfigPush(version=7, signal=longer, author="alice"), acks.append)
    bad = site.signal.model_copy(update={"phases": [
        p.model_copy(update={"timings": p.timings.model_copy(update={"min_green": 2.0})}) for p in site.signal.phases
    ]})
    rt.schedule_plan(ConfigPush(version=8, signal=bad, author="mallory"), acks.append)
    for t in range(1, 200):
        rt._control.observe(float(t), _live({"north": 3, "south": 3, "east": 3, "west": 3}))
        rt._control.step(float(t))
        rt._apply_plans()
        if any(a.version == 7 for a in acks):
            break
    refused = [a for a in acks if a.version == 8]
    applied = [a for a in acks if a.version == 7]
    assert refused
    assert not refused[0].applied
    assert any("min_green" in r for r in refused[0].reasons)
    assert applied
    assert applied[0].applied
    assert rt.plan_version == 7
    assert rt.current_signal() == longer
