"""Held-out twin video through the edge pipeline: vision counts per movement against SUMO's truth.

The clip (``benchmarks.twin_vision``) is traffic the default model never saw: a new seed, the
``afternoon`` light (not in training) and a demand heavier than any training episode.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.twin_vision import HELD_OUT, SITE, run
from edge.config_loader import load_site, resolve_path

pytest.importorskip("libsumo", reason="the digital twin needs the bench extra (libsumo)")

#: Movements with at least this many vehicles in the short clip are held to the target.
ENOUGH = 15
TARGET = 0.05


@pytest.mark.slow
@pytest.mark.xfail(
    reason="the committed default model is under-trained (1.2 h on a shared 2-core CPU, held-out mAP50 0.20): "
    "vision finds too few vehicles to count; see models/README.md and benchmarks/results/twin_vision.json",
    strict=True,  # once a better model passes, this marker must go
)
def test_vision_counts_match_truth_on_held_out_twin_video(tmp_path: Path) -> None:
    model = resolve_path(SITE, load_site(SITE).model.path)
    if not model.is_file():
        pytest.skip(f"default model {model} is absent")
    report = run(1.5, HELD_OUT, tmp_path, drain_s=25.0)
    rows = report["movements"]
    assert report["total"]["truth"] >= 60, "the clip should carry real traffic"
    assert report["total"]["error"] <= TARGET, report["total"]
    judged = {m: r for m, r in rows.items() if r["truth"] >= ENOUGH}
    assert judged, rows
    for mid, r in judged.items():
        assert r["error"] <= TARGET, (mid, r)
