"""Loss: 10,000 aggregates through SIGKILLs of central (twice) and of the edge (once); all arrive once.

Real processes: ``simpang central ingest`` on a SQLite store and ``simpang edge link-test``
publishing at a steady rate, killed with SIGKILL at points chosen by the edge's progress.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 10_000
SITE = "loss-site"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _simpang(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.commands", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)


def _until(cond: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _read_int(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(sql).fetchone()
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    return int(row[0]) if row and row[0] is not None else 0


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        _kill(p)


def test_nothing_lost_through_central_and_edge_sigkills(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    db, spool = tmp_path / "central.db", tmp_path / "edge-spool.sqlite"

    def central() -> subprocess.Popen[str]:
        p = _simpang("central", "ingest", "--db", f"sqlite:///{db}", "--zmq", endpoint)
        procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.startswith("ingest listening"), line + (p.stderr.read() if p.stderr else "")
        return p

    def edge(count: int) -> subprocess.Popen[str]:
        p = _simpang("edge", "link-test", "--central", endpoint, "--site-id", SITE, "--spool", str(spool),
                     "--count", str(count), "--rate", "1500", "--timeout", "60", "--json")
        procs.append(p)
        return p

    def numbered() -> int:
        return _read_int(spool, "SELECT value FROM meta WHERE key = 'last_seq'")

    def stored() -> int:
        return _read_int(db, f"SELECT count(*) FROM messages WHERE site = '{SITE}'")

    c = central()
    e = edge(TOTAL)
    _until(lambda: numbered() >= 1500 and stored() > 0, "traffic before the first central kill")
    _kill(c)  # central down: the edge keeps publishing into its spool

    _until(lambda: numbered() >= 3000, "the edge kill point")
    _kill(e)  # the edge dies holding at least 1,500 unacknowledged messages
    remaining = TOTAL - numbered()
    assert 0 < remaining <= TOTAL - 3000
    c = central()
    e = edge(remaining)

    _until(lambda: numbered() >= 7000, "the second central kill point")
    _kill(c)
    time.sleep(0.5)
    c = central()

    out, err = e.communicate(timeout=90)
    assert e.returncode == 0, err
    summary = json.loads(out)
    assert summary["all_acked"]
    assert summary["spool_depth"] == 0
    assert summary["resumed_from_spool"] > 0, "the restarted edge found unacknowledged messages in its spool"

    with sqlite3.connect(db) as conn:
        seqs = [s for (s,) in conn.execute("SELECT seq FROM messages WHERE site = ? ORDER BY seq", (SITE,))]
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM messages WHERE site = ?", (SITE,))}
    assert seqs == list(range(1, TOTAL + 1)), "central holds every message exactly once"
    assert kinds == {"aggregate"}
