"""Supervisor: restarts crashed and stuck stages, stops in order."""

from __future__ import annotations

import time
from pathlib import Path

from edge.supervisor import StageSpec, Supervisor
from tests.edge.stage_fixtures import beat_forever, crash_once, hang_after_start


def _poll_until(sup: Supervisor, cond: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.poll()
        if callable(cond) and cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_crashed_stage_is_restarted(tmp_path: Path) -> None:
    sup = Supervisor()
    sup.add(StageSpec("flaky", crash_once, (str(tmp_path / "flag"),), stuck_after_s=5))
    sup.start()
    try:
        _poll_until(sup, lambda: sup.restarts == 1 and all(s.alive for s in sup.status()))
        time.sleep(0.5)
        sup.poll()
        assert sup.restarts == 1  # healthy after the restart: no more restarts
    finally:
        sup.stop()


def test_stuck_stage_is_killed_and_restarted(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    sup = Supervisor()
    sup.add(StageSpec("stuck", hang_after_start, (str(log),), stuck_after_s=0.5, stop_timeout_s=0.5))
    sup.start()
    try:
        _poll_until(sup, lambda: log.exists() and len(log.read_text().split()) >= 2)
        assert sup.restarts >= 1
        pids = log.read_text().split()
        assert len(set(pids)) == len(pids)  # each start is a new process
    finally:
        sup.stop()


def test_stop_runs_in_order_and_stages_finish_cleanly(tmp_path: Path) -> None:
    sup = Supervisor()
    a, b = tmp_path / "a", tmp_path / "b"
    sup.add(StageSpec("a", beat_forever, (str(a),)))
    sup.add(StageSpec("b", beat_forever, (str(b),)))
    sup.start()
    _poll_until(sup, lambda: all(s.alive for s in sup.status()))

    def names() -> set[str]:
        return {Path(f"/proc/{s.pid}/comm").read_text().strip() for s in sup.status()}

    _poll_until(sup, lambda: names() == {"simpang-a", "simpang-b"})  # ps and top show which stage is which
    sup.stop(["b", "a"])
    assert a.exists()
    assert b.exists()
    assert b.stat().st_mtime <= a.stat().st_mtime
    assert sup.restarts == 0
    assert not any(s.alive for s in sup.status())
