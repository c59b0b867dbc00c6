"""Held-out twin video through the edge pipeline: movement counts against SUMO's truth.

The clip (as ``benchmarks.twin_vision`` records it) is traffic the default model never saw: a new
seed, the ``afternoon`` light (not in training) and a demand heavier than any training episode.
It is counted twice: from the twin's exact boxes (what tracking and counting lose on their own)
and from the default model's detections (the whole pipeline, the issue's target).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.twin_vision import HELD_OUT, SITE, compare, exact_box_counts
from edge.config_loader import load_site, resolve_path
from edge.replay import ReplayOptions, run_replay
from edge.twin.record import Recording, record_clip

pytest.importorskip("libsumo", reason="the digital twin needs the bench extra (libsumo)")

#: Movements with at least this many vehicles in the clip are held to the bounds.
ENOUGH = 15
TARGET = 0.05


@pytest.fixture(scope="module")
def held_out_clip(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    folder = tmp_path_factory.mktemp("twin-vision")
    rec = record_clip(HELD_OUT, folder / "clip.mp4", 180.0, drain_s=25.0)
    assert sum(rec.totals().values()) >= 120, "the clip should carry real traffic"
    return rec


@pytest.mark.slow
def test_tracking_and_counting_lose_little_on_exact_boxes(held_out_clip: Recording) -> None:
    report = compare(held_out_clip.totals(), exact_box_counts(held_out_clip), min_vehicles=ENOUGH)
    # With exact boxes the tracking and counting layer meets the target on its own
    # (the late-entry and early-exit inference of edge/measure.py took it from 134 to 138 of 141).
    assert report["total"]["error"] <= TARGET, report["total"]
    judged = {m: r for m, r in report["movements"].items() if r["truth"] >= ENOUGH}
    assert len(judged) >= 4, report["movements"]
    for mid, r in judged.items():
        assert r["error"] <= TARGET, (mid, r)


@pytest.mark.slow
def test_vision_counts_match_truth_on_held_out_twin_video(held_out_clip: Recording, tmp_path: Path) -> None:
    model = resolve_path(SITE, load_site(SITE).model.path)
    if not model.is_file():
        pytest.skip(f"default model {model} is absent")
    result = run_replay(ReplayOptions(video=held_out_clip.video, site_path=SITE, out_dir=tmp_path / "replay"))
    vision = {m: int(v["total"]) for m, v in result.summary["movements"].items()}
    report = compare(held_out_clip.totals(), vision, min_vehicles=ENOUGH)
    assert report["total"]["error"] <= TARGET, report["total"]
    judged = {m: r for m, r in report["movements"].items() if r["truth"] >= ENOUGH}
    assert judged, report["movements"]
    for mid, r in judged.items():
        assert r["error"] <= TARGET, (mid, r)
