"""``simpang central run --zmq --keys`` with ``simpang edge link-test``: the whole link, as deployed."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from edge.commands import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_central_run_receives_an_edge_over_curve_and_exposes_ingest_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    assert main(["central", "keys", "create", "site-x", "--dir", str(keys), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    http, zmq_port = _free_port(), _free_port()
    central = subprocess.Popen(
        [sys.executable, "-m", "edge.commands", "central", "run", "--db", f"sqlite:///{tmp_path / 'c.db'}",
         "--http", f"127.0.0.1:{http}", "--zmq", f"tcp://127.0.0.1:{zmq_port}", "--keys", str(keys)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert central.stdout is not None
        assert "serving" in central.stdout.readline()
        edge = subprocess.run(
            [sys.executable, "-m", "edge.commands", "edge", "link-test", "--central", f"tcp://127.0.0.1:{zmq_port}",
             "--server-key", made["server_public_key"], "--key-file", made["secret_file"], "--site-id", "site-x",
             "--spool", str(tmp_path / "spool.sqlite"), "--count", "200", "--timeout", "30", "--json"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert edge.returncode == 0, edge.stderr
        assert json.loads(edge.stdout)["acked"] == 200
        deadline = time.monotonic() + 10
        while True:
            try:
                metrics = httpx.get(f"http://127.0.0.1:{http}/metrics", timeout=5).text
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert 'simpang_ingest_messages_total{kind="aggregate"} 200.0' in metrics
        assert 'simpang_site_last_seen_seconds{site="site-x"}' in metrics
    finally:
        central.send_signal(signal.SIGTERM)
        _, err = central.communicate(timeout=20)
    # uvicorn shuts down gracefully (the lifespan stops ingest) and then re-raises SIGTERM.
    assert central.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
