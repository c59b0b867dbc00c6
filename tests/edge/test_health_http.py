"""Health endpoint and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from edge.health_http import HealthServer
from edge.logs import JsonFormatter, configure_logging


def test_health_and_metrics_over_http() -> None:
    registry = CollectorRegistry()
    frames = Counter("simpang_frames", "frames read", registry=registry)
    frames.inc(7)
    state = {"ok": True, "stages": 5}
    srv = HealthServer("127.0.0.1", 0, lambda: dict(state), registry)
    srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            assert r.status == 200
            assert json.loads(r.read()) == {"ok": True, "stages": 5}
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            assert "simpang_frames_total 7.0" in r.read().decode()
        state["ok"] = False
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/health", timeout=5)
        assert info.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/nope", timeout=5)
        assert info.value.code == 404
    finally:
        srv.stop()


def test_json_log_lines_carry_extra_fields() -> None:
    buf = io.StringIO()
    configure_logging(json_lines=True, level=logging.INFO, stream=buf)
    try:
        logging.getLogger("edge.capture").warning("camera %s lost", "north", extra={"camera": "north", "n": 3})
        rec = json.loads(buf.getvalue().strip())
        assert rec["msg"] == "camera north lost"
        assert rec["level"] == "WARNING"
        assert rec["logger"] == "edge.capture"
        assert rec["camera"] == "north"
        assert rec["n"] == 3
        assert rec["ts"].endswith("Z")
    finally:
        logging.getLogger().handlers[:] = []


def test_json_formatter_includes_exception() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), exc_info=__import__("sys").exc_info())
    out = json.loads(JsonFormatter().format(rec))
    assert "RuntimeError: boom" in out["exc"]
