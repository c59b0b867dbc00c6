"""``simpang central run`` serves the API and dashboard from a real process, and stops on SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from central.auth import hash_token, new_token
from central.store import open_store
from tests.central.factories import T0, health


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_central_run_serves_and_stops(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/c.db"
    store = open_store(db)
    token = new_token()
    store.add_token("ops", "viewer", hash_token(token))
    store.ingest([health("s1", 1, T0)])
    store.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.commands", "central", "run", "--db", db, "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "central did not start within 30 s"
            time.sleep(0.2)
        sites = httpx.get(f"{base}/api/sites", headers={"Authorization": f"Bearer {token}"}).json()
        assert [s["site"] for s in sites] == ["s1"]
        assert httpx.get(f"{base}/api/sites").status_code == 401
        assert "Simpang" in httpx.get(f"{base}/", follow_redirects=True).text
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal: the usual 130 for an interrupt.
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "simpang: interrupted"
    assert f"serving http://127.0.0.1:{port}/" in out


def test_central_run_bad_db_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.commands", "central", "run", "--db", "mysql://x/y", "--http", "127.0.0.1:0"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "simpang: error: unknown store URL 'mysql://x/y': use sqlite:///file.db or postgresql://user@host:port/db"
    ]
