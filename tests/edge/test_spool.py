"""The edge spool: numbered, durable, bounded, site-bound."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.errors import SpoolError
from edge.messages import Aggregate, Envelope, Health, LineCount, decode
from edge.spool import Spool


def _agg(n: int = 1) -> Aggregate:
    return Aggregate(start=1_700_000_000.0 + n, duration_s=15.0,
                     lines=[LineCount(line="l1", direction="in", counts={"car": n, "motorcycle": 2 * n})])


def test_frames_decode_to_the_envelope_they_stand_for(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite", site="site-a") as spool:
        rows = spool.append([_agg(1), Health(uptime_s=3.5)], sent_at=1_700_000_123.25)
    assert [seq for seq, _ in rows] == [1, 2]
    assert decode(rows[0][1]) == Envelope(site="site-a", seq=1, sent_at=1_700_000_123.25, body=_agg(1))
    assert decode(rows[1][1]) == Envelope(site="site-a", seq=2, sent_at=1_700_000_123.25, body=Health(uptime_s=3.5))


def test_seq_strictly_increases_across_reopen_even_when_all_acked(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Spool(path, site="site-a") as spool:
        first = spool.append([_agg(i) for i in range(5)])
        assert spool.ack([(1, 5)]) == 5
        assert spool.depth == 0
    with Spool(path, site="site-a") as spool:
        assert spool.last_seq == 5
        again = spool.append([_agg(9)])
    assert [s for s, _ in first] == [1, 2, 3, 4, 5]
    assert [s for s, _ in again] == [6]


def test_ack_deletes_only_acknowledged_ranges(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite", site="site-a") as spool:
        spool.append([_agg(i) for i in range(10)])
        assert spool.ack([(2, 4), (7, 7), (50, 60)]) == 4
        assert [s for s, _ in spool.pending()] == [1, 5, 6, 8, 9, 10]
        assert [s for s, _ in spool.pending(after=5, limit=2)] == [6, 8]
        assert spool.ack([(2, 4)]) == 0, "acking twice deletes nothing more"
        assert spool.depth == 6
        assert spool.size_bytes == sum(len(f) for _, f in spool.pending())


def test_full_spool_evicts_oldest_first_and_raises_the_alarm(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Spool(tmp_path / "probe.sqlite", site="site-a") as probe:
        one = len(probe.append([_agg(1)])[0][1])
    with Spool(tmp_path / "s.sqlite", site="site-a", max_bytes=one * 20) as spool, caplog.at_level(logging.WARNING):
        spool.append([_agg(1) for _ in range(15)])
        assert spool.evicted == 0
        spool.append([_agg(1) for _ in range(10)])
        waiting = [s for s, _ in spool.pending()]
        assert spool.size_bytes <= spool.max_bytes
        assert spool.evicted == 25 - len(waiting) > 0
        assert waiting == list(range(26 - len(waiting), 26)), "the newest survive, the oldest go"
    assert any("evicted" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_spool_belongs_to_one_site(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Spool(path, site="site-a").close()
    with pytest.raises(SpoolError, match="belongs to site 'site-a'"):
        Spool(path, site="site-b")


@pytest.mark.parametrize(
    ("content", "site", "match"),
    [
        (b"this is not a database, just text" * 100, "site-a", "cannot open spool"),
        (None, "", "not valid on the wire"),
        (None, "x" * 65, "not valid on the wire"),
    ],
)
def test_bad_spool_or_site_is_a_clear_error(tmp_path: Path, content: bytes | None, site: str, match: str) -> None:
    path = tmp_path / "s.sqlite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SpoolError, match=match):
        Spool(path, site=site)


def test_appended_messages_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    child = textwrap.dedent(f"""
        import os, sys, time
        from edge.spool import Spool
        from edge.messages import Health
        spool = Spool({str(path)!r}, site="site-a")
        for i in range(20):
            spool.append([Health(uptime_s=float(i))] * 50)
        print("appended", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "appended"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    with Spool(path, site="site-a") as spool:
        assert spool.depth == 1000
        assert spool.last_seq == 1000
        assert [s for s, _ in spool.pending(limit=2000)] == list(range(1, 1001))


def test_a_message_too_big_for_the_wire_is_refused_and_nothing_spooled(tmp_path: Path) -> None:
    from edge.messages import MAX_MESSAGE_BYTES  # noqa: PLC0415

    huge = Aggregate(start=0.0, duration_s=1.0,
                     lines=[LineCount(line="l" * 60, direction="in", counts={f"c{i}": i for i in range(MAX_MESSAGE_BYTES // 10)})])
    with Spool(tmp_path / "s.sqlite", site="site-a") as spool:
        with pytest.raises(SpoolError, match="exceeds the wire limit"):
            spool.append([_agg(1), huge])
        assert (spool.depth, spool.last_seq) == (0, 0)
        assert [s for s, _ in spool.append([_agg(2)])] == [1]


def test_files_on_disk_stay_bounded_through_a_long_outage(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    limit = 256 * 1024
    with Spool(path, site="site-a", max_bytes=limit) as spool:
        for _ in range(40):  # about 40 times the bound, never acknowledged
            spool.append([_agg(i) for i in range(100)])
        assert spool.evicted > 0
        assert spool.size_bytes <= limit
        on_disk = sum(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("s.sqlite"))
    assert on_disk < 4 * limit, f"{on_disk} bytes on disk for a {limit}-byte spool"
