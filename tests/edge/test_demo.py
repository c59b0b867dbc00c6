"""The closed-loop demo end to end: central and an edge runtime as real processes, the twin camera,
the default model, the controller acting on SUMO, and the summary read back through the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config_loader import load_site, resolve_path
from edge.demo import SITE, DemoOptions, run_demo


@pytest.mark.slow
def test_demo_runs_the_whole_chain_and_reports(tmp_path: Path) -> None:
    model = resolve_path(SITE, load_site(SITE).model.path)
    assert model.exists(), f"the default model {model} must be committed"
    summary = run_demo(DemoOptions(duration_s=25.0, pace=1.0, http_port=0, headless=True, out_dir=tmp_path / "demo", seed=21))
    edge = summary["edge"]
    assert edge["frames"] > 50
    assert edge["stage_restarts"] == 0
    assert edge["spool_depth"] == 0, "everything the edge measured reached central"
    assert edge["signal_changes"] >= 1
    assert summary["central"]["messages_stored"] >= edge["aggregates"] >= 1
    assert summary["sim_time_s"] > 5
    counts = summary["counts"]
    # Ground truth counts the movements completed by the end, a part of the stop-bar crossings
    # (in 25 s from an empty network there may be none yet).
    assert counts["entered_total"] >= counts["truth_total"] >= 0
    assert set(counts["per_movement"]) == {m.id for m in load_site(SITE).movements}
    assert set(summary["delay_s"]) == {"simpang_vision", "fixed_time", "simpang_ideal_detectors"}
    assert all(v >= 0 for v in summary["delay_s"].values())
    assert (tmp_path / "demo" / "summary.json").exists()
