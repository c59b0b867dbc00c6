"""The closed loop's diagnostic feeds: ``view`` (SUMO's detectors limited to what the site's camera
really sees) and ``boxes`` (the camera pipeline fed the twin's exact boxes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from controller.scenarios.catalog import fourleg_intersection
from controller.sumo import CameraView
from edge.closed_loop import LoopOptions, _write_ideal_detectors, run_loop
from edge.config_loader import load_site
from edge.measure import SiteMeasures
from edge.twin.source import TwinOptions, TwinSource

pytest.importorskip("libsumo", reason="the closed loop needs the bench extra (libsumo)")

SITE = Path(__file__).resolve().parents[2] / "edge" / "sites" / "twin_fourleg.yaml"


def test_reach_comes_from_the_calibrated_queue_zones() -> None:
    reach = SiteMeasures(load_site(SITE), "pole").reach_m()
    # The corner pole sees the far approaches to the controller's range and the near ones, which
    # pass below it, only for their first metres.
    assert reach["north"] == pytest.approx(60.0, abs=1.0)
    assert reach["east"] == pytest.approx(60.0, abs=1.0)
    assert 7.0 < reach["south"] < 12.0
    assert 7.0 < reach["west"] < 12.0


def test_view_feed_sees_near_approaches_only_within_reach(tmp_path: Path) -> None:
    site = load_site(SITE)
    assert site.signal is not None
    opts = TwinOptions(seed=3, duration_s=400.0, fps=2.0, width=320, height=180)
    additional = tmp_path / "camera.add.xml"
    _write_ideal_detectors(additional, opts, site)
    twin = TwinSource(opts, sumo_args=("-a", str(additional)))
    try:
        sc = twin.scenario
        inter = dataclasses.replace(fourleg_intersection(sc), signal=site.signal, groups=dict(sc.approaches))
        reach = SiteMeasures(site, "pole").reach_m()
        full = CameraView(twin.world.traci, inter)
        limited = CameraView(twin.world.traci, inter, reach=reach)
        beyond = 0
        departed = {"full": 0, "limited": 0}
        while twin.world.time_s < 300.0:
            assert twin.step()
            if twin.world.time_s < 120.0:
                continue
            a, b = full.observe(twin.world.time_s), limited.observe(twin.world.time_s)
            for g in ("north", "east"):  # seen to the full range: the same measures
                assert (b.groups[g].queue_veh, b.groups[g].queue_m) == (a.groups[g].queue_veh, a.groups[g].queue_m)
                assert b.groups[g].view_m == a.groups[g].view_m
            for g in ("south", "west"):
                near, far = b.groups[g], a.groups[g]
                assert near.view_m == pytest.approx(reach[g])  # as the vision pipeline reports it
                assert near.queue_m <= reach[g] + 1e-9
                beyond += far.queue_m > reach[g] + 5.0
                departed["full"] += far.departures
                departed["limited"] += near.departures
        assert beyond > 0, "no queue ran past the near approaches' view: the test saw no traffic"
        # Every vehicle that crosses the stop line was within reach just before: the departures agree.
        assert departed["limited"] == pytest.approx(departed["full"], rel=0.05)
    finally:
        twin.close()


def test_boxes_feed_runs_the_real_tracker_and_measures_on_exact_boxes() -> None:
    """``boxes``: the camera pipeline minus the model. Its counts show what tracking loses alone."""
    site = load_site(SITE)
    result = run_loop(site, LoopOptions(feed="boxes", seed=5, duration_s=240.0, fps=5.0, site_dir=SITE.parent))
    assert result.frames >= 1_000
    assert result.adaptive_share > 0.5, "exact boxes keep the detection healthy: the controller stays adaptive"
    assert result.signal_changes > 4
    assert result.delay_s > 0.0
    counted, truth = sum(result.counts_vision.values()), sum(result.counts_truth.values())
    assert truth >= 40, "the run should carry real traffic"
    assert counted == pytest.approx(truth, rel=0.2)
