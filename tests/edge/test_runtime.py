"""The unattended edge runtime end to end: real stage processes, real model, real central ingest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from central.ingest import IngestServer
from central.store import open_store
from edge.config_loader import load_site
from edge.runtime import EdgeRuntime, RuntimeOptions
from edge.spool import Spool
from tests.helpers import shared_file

SITE = Path(__file__).resolve().parents[2] / "edge" / "sites" / "highway_uk.yaml"


@pytest.mark.slow
def test_runtime_streams_a_video_to_central_and_stops_cleanly(tmp_path: Path) -> None:
    shared_file("highway_uk_720p.mp4")
    shared_file("yolox_nano.onnx")
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    ingest = IngestServer("tcp://127.0.0.1:0", store)
    ingest.start()
    try:
        site = load_site(SITE)
        spool_path = tmp_path / "spool.sqlite"
        opts = RuntimeOptions(site_path=SITE, endpoint=ingest.endpoint, spool_path=spool_path,
                              health=("127.0.0.1", 0), pace=0, limit=40, drain_timeout_s=20.0)
        summary = EdgeRuntime(site, opts).run()
    finally:
        ingest.stop()
        store.close()
    assert summary.stop_reason == "end of stream"
    assert summary.frames == 40
    assert summary.frames_dropped == 0  # lock-step: every frame reaches the detector
    assert summary.stage_restarts == 0
    assert summary.aggregates >= 1
    assert summary.spool_depth == 0  # everything acknowledged
    # Central holds every aggregate once, and the final health says the stages never restarted.
    with sqlite3.connect(tmp_path / "central.db") as db:
        kinds = dict(db.execute("select kind, count(*) from messages where site = 'highway-uk' group by kind").fetchall())
    assert kinds.get("aggregate") == summary.aggregates
    assert kinds.get("health", 0) >= 1
    spool = Spool(spool_path, site="highway-uk")
    try:
        assert spool.depth == 0
    finally:
        spool.close()


def test_runtime_refuses_a_live_camera_without_frame_size(tmp_path: Path) -> None:
    from edge.errors import ConfigError  # noqa: PLC0415
    from edge.runtime import frame_shape  # noqa: PLC0415

    site_file = tmp_path / "s.yaml"
    site_file.write_text(SITE.read_text().replace("source: ../../../shared/data/highway_uk_720p.mp4", "source: rtsp://127.0.0.1:9/x")
                         .replace("    frame_size: [1280, 720]\n", ""))
    site = load_site(site_file)
    with pytest.raises(ConfigError, match="set frame_size"):
        frame_shape(site.cameras[0], tmp_path)
