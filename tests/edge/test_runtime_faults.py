"""Fault test of the unattended runtime: the camera stage is killed and central goes away mid-run;
the watchdog restarts the stage, the spool holds what central could not take, and afterwards
central has every message exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from central.ingest import IngestServer
from central.store import open_store
from edge.config_loader import load_site
from edge.runtime import EdgeRuntime, RunSummary, RuntimeOptions
from tests.helpers import shared_file

SITE = Path(__file__).resolve().parents[2] / "edge" / "sites" / "highway_uk.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stage_pid(port: int, name: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            doc = json.loads(r.read())
    except urllib.error.HTTPError as err:  # 503 while a stage is down: the body still says which
        doc = json.loads(err.read())
    for s in doc["stages"]:
        if s["name"] == name and s["alive"]:
            return int(s["pid"])
    return None


@pytest.mark.slow
def test_camera_kill_and_central_outage_lose_nothing(tmp_path: Path) -> None:
    shared_file("highway_uk_720p.mp4")
    shared_file("yolox_nano.onnx")
    site_file = tmp_path / "site.yaml"
    # Short intervals and heartbeats so that a 30 s run produces a stream of messages; stride 3
    # keeps the detector close to the camera's pace on a loaded machine.
    site_file.write_text(
        SITE.read_text()
        .replace("source: ../../../shared/data/", f"source: {SITE.parent}/../../../shared/data/")
        .replace("path: ../../../shared/data/", f"path: {SITE.parent}/../../../shared/data/")
        .replace("detect_stride: 1", "detect_stride: 3")
        .replace("live_interval_s: 15", "live_interval_s: 2")
        + "central:\n  heartbeat_s: 1.0\n"
    )
    site = load_site(site_file)
    db = tmp_path / "central.db"
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    store = open_store(f"sqlite:///{db}")
    ingest = IngestServer(endpoint, store)
    ingest.start()
    runtime = EdgeRuntime(site, RuntimeOptions(
        site_path=site_file, endpoint=endpoint, spool_path=tmp_path / "spool.sqlite", health=("127.0.0.1", 0),
        pace=1.0, loops=5, duration_s=40.0, drain_timeout_s=30.0, stuck_after_s=20.0,
    ))
    result: list[RunSummary] = []
    worker = threading.Thread(target=lambda: result.append(runtime.run()))
    worker.start()
    try:
        _wait(lambda: runtime.health_port is not None and _stage_pid(runtime.health_port, "capture"), 60, "capture stage")
        assert runtime.health_port is not None
        time.sleep(5.0)
        pid = _stage_pid(runtime.health_port, "capture")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the camera process dies
        time.sleep(1.0)
        ingest.stop()  # and central goes away
        store.close()
        _wait(lambda: (p := _stage_pid(runtime.health_port or 0, "capture")) is not None and p != pid, 30,
              "capture restarted by the watchdog")
        time.sleep(6.0)  # the edge keeps measuring and spooling while central is down
        store = open_store(f"sqlite:///{db}")
        ingest = IngestServer(endpoint, store)
        ingest.start()
        worker.join(120)
        assert not worker.is_alive()
    finally:
        runtime.request_stop("test over")
        worker.join(60)
        ingest.stop()
        store.close()
    summary = result[0]
    assert summary.stage_restarts >= 1
    assert summary.spool_depth == 0, "everything spooled during the outage must reach central"
    with sqlite3.connect(db) as con:
        rows = con.execute("select seq, kind from messages where site = ?", (site.site_id,)).fetchall()
    seqs = sorted(s for s, _ in rows)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap: some message was lost"
    assert len(set(seqs)) == len(seqs)
    aggregates = sum(1 for _, k in rows if k == "aggregate")
    assert aggregates == summary.aggregates
    assert aggregates >= 5
