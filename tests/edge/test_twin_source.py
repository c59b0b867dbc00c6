"""The twin frame source on the real four-leg scenario (libsumo): frames, ground truth, closed loop."""

from __future__ import annotations

import numpy as np
import pytest

from edge.capture import Frame, open_source
from edge.config import CameraConfig
from edge.errors import SourceError
from edge.twin.source import TwinOptions, TwinSource, open_twin
from edge.twin.truth import MovementCounter
from edge.twin.world import SumoWorld, planned_counts
from models.classes import VehicleClass

pytest.importorskip("libsumo", reason="the digital twin needs the bench extra (libsumo)")


def test_uri_options_are_parsed() -> None:
    o = TwinOptions.parse("twin:fourleg?seed=3&lighting=dusk&fps=5&size=320x180&demand=0.5&realtime=1")
    assert (o.seed, o.lighting, o.fps, o.width, o.height, o.demand, o.realtime) == (3, "dusk", 5.0, 320, 180, 0.5, True)
    assert TwinOptions.parse("twin:fourleg") == TwinOptions()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("file:fourleg", "not a twin source"),
        ("twin:threeleg", "unknown scenario"),
        ("twin:fourleg?lighting=disco", "unknown lighting"),
        ("twin:fourleg?colour=red", "unknown option 'colour'"),
        ("twin:fourleg?seed=x", "not a valid"),
        ("twin:fourleg?size=big", "size must look like"),
        ("twin:fourleg?fps=500", "fps"),
    ],
)
def test_bad_uris_get_one_clear_error(uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        TwinOptions.parse(uri)


def test_frames_follow_the_source_contract() -> None:
    with open_twin("twin:fourleg?seed=5&fps=5&size=320x180&demand=1.2") as src:
        assert src.size == (320, 180)
        assert src.fps == 5.0
        for _ in range(150):  # 30 s: traffic reaches the junction
            src.step()
        frames = [src.read() for _ in range(3)]
        f0, f1, f2 = (f for f in frames if isinstance(f, Frame))
        assert f0.image.shape == (180, 320, 3)
        assert f0.image.dtype == np.uint8
        assert [f.index for f in (f0, f1, f2)] == [0, 1, 2]
        assert f1.stamp.mono - f0.stamp.mono == pytest.approx(0.2)
        assert f2.stamp.wall - f1.stamp.wall == pytest.approx(0.2)
        t = src.truth
        assert len(t) > 0
        xyxy = t.detections.xyxy
        assert (xyxy[:, 0] >= 0).all()
        assert (xyxy[:, 2] <= 320).all()
        assert (xyxy[:, 1] >= 0).all()
        assert (xyxy[:, 3] <= 180).all()
        assert set(t.detections.class_id.tolist()) <= {int(c) for c in VehicleClass}
        assert set(t.ids) <= set(src.world.traci.vehicle.getIDList())


def test_counts_per_movement_agree_with_the_route_file() -> None:
    # Two minutes of demand, simulated (without rendering) until every vehicle has left.
    with TwinSource(TwinOptions(seed=11, duration_s=120.0, demand=1.0)) as src:
        planned = planned_counts(src.scenario.route_file)
        assert src.planned_counts() == planned
        steps = 0
        while src.step():
            steps += 1
            assert steps < 20_000, "the scenario did not drain"
        assert src.counter.counts == planned
        assert src.counter.tracked == 0
    assert sum(sum(per.values()) for per in planned.values()) > 20
    assert len(planned) == 12


def test_the_controller_acts_back_on_the_signals() -> None:
    """Closed loop: holding every signal red stops all stop-bar crossings; releasing resumes them."""
    with TwinSource(TwinOptions(seed=4, demand=1.2)) as src:
        for _ in range(300):
            src.step()
        tls = src.world.traci.trafficlight
        links = len(tls.getRedYellowGreenState(src.world.tls_id))
        # Let vehicles already past the stop bars clear, then hold red.
        tls.setRedYellowGreenState(src.world.tls_id, "r" * links)
        for _ in range(100):
            src.step()
        before = sum(src.counter.totals().values())
        for _ in range(300):
            src.step()
        assert sum(src.counter.totals().values()) == before
        tls.setRedYellowGreenState(src.world.tls_id, "G" * links)
        for _ in range(200):
            src.step()
        assert sum(src.counter.totals().values()) > before + 5


def test_only_one_simulation_per_process() -> None:
    with TwinSource(TwinOptions(seed=1)) as src, pytest.raises(SourceError, match="already open"):
        SumoWorld(src.scenario.net_file, src.scenario.route_file)


def test_closed_source_removes_its_files() -> None:
    src = open_twin("twin:fourleg?seed=2")
    folder = src.scenario.net_file.parent
    assert folder.is_dir()
    src.close()
    src.close()
    assert not folder.exists()
    with pytest.raises(SourceError, match="closed"):
        src.step()


def test_site_cameras_open_the_twin_through_capture() -> None:
    cam = CameraConfig(id="pole", source="twin:fourleg?seed=2", fps=5.0, frame_size=(320, 180))
    src = open_source(cam)
    try:
        assert isinstance(src, TwinSource)
        assert src.fps == 5.0
        assert src.size == (320, 180)
        frame = src.read()
        assert frame is not None
        assert frame.image.shape == (180, 320, 3)
    finally:
        src.close()


def test_movement_counter_counts_at_the_stop_bar_and_prunes() -> None:
    c = MovementCounter({"north_left": ("north_in", "east_out"), "north_through": ("north_in", "south_out")})
    routes = {"a": ("north_in", "east_out"), "b": ("north_in", "south_out"), "c": ("east_in", "west_out")}
    classes = {"a": VehicleClass.MOTORCYCLE, "b": VehicleClass.BUS, "c": VehicleClass.CAR}
    assert c.update({"a": "north_in", "b": "north_in", "c": "east_in"}, routes, classes) == []
    assert c.tracked == 2  # 'c' is on no known movement
    assert c.update({"a": ":C_1_0", "b": "north_in"}, {}, {}) == [("a", "north_left")]
    assert c.update({"a": "east_out"}, {}, {}) == []  # counted once; 'b' vanished (teleported)
    assert c.tracked == 0
    assert c.counts == {"north_left": {"motorcycle": 1}}
    assert c.totals() == {"north_left": 1}
