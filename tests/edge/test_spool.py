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


@pytest.mark.parametrize("per_row", [1, 3, 500])
def test_acks_that_cut_rows_keep_the_rest_of_them(tmp_path: Path, per_row: int) -> None:
    with Spool(tmp_path / "s.sqlite", site="site-a", frames_per_row=per_row) as spool:
        frames = dict(spool.append([_agg(i) for i in range(10)]))
        assert spool.ack([(2, 2), (4, 8)]) == 6
        assert spool.pending() == [(s, frames[s]) for s in (1, 3, 9, 10)]
        assert spool.ack([(1, 10)]) == 4
        assert (spool.depth, spool.size_bytes, spool.pending()) == (0, 0, [])


@pytest.mark.parametrize(("after", "limit", "expected"), [(0, 10, (1, 10)), (3, 4, (4, 7)), (6, 100, (7, 10)), (10, 5, None)])
def test_pending_rows_are_batch_frames_cut_at_after_and_limit(
    tmp_path: Path, after: int, limit: int, expected: tuple[int, int] | None
) -> None:
    with Spool(tmp_path / "s.sqlite", site="site-a", frames_per_row=4) as spool:
        frames = dict(spool.append([_agg(i) for i in range(10)]))
        rows = spool.pending_rows(after=after, limit=limit)
    if expected is None:
        assert rows == []
        return
    assert (rows[0][0], rows[-1][1]) == expected
    assert b"\n".join(f for _, _, f in rows) == b"\n".join(frames[s] for s in range(expected[0], expected[1] + 1))
    assert all(f.count(b"\n") == last - first for first, last, f in rows)


def test_eviction_cuts_a_row_instead_of_dropping_it_whole(tmp_path: Path) -> None:
    with Spool(tmp_path / "probe.sqlite", site="site-a") as probe:
        one = len(probe.append([_agg(1)])[0][1])
    with Spool(tmp_path / "s.sqlite", site="site-a", max_bytes=one * 20, frames_per_row=100) as spool:
        spool.append([_agg(1) for _ in range(19)])
        spool.append([_agg(1) for _ in range(3)])
        assert 0 < spool.evicted < 10, "down to 90 % of the bound, not the whole first row of 19"
        assert [s for s, _ in spool.pending()] == list(range(spool.evicted + 1, 23))
        assert spool.size_bytes <= spool.max_bytes * 9 // 10


def test_a_format_1_spool_is_upgraded_and_keeps_its_messages(tmp_path: Path) -> None:
    import sqlite3  # noqa: PLC0415

    path = tmp_path / "s.sqlite"
    frames = [b'{"v":1,"site":"site-a","seq":%d,"sent_at":1.0,"body":{"kind":"events","events":[]}}' % s for s in (3, 4)]
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, frame BLOB NOT NULL);
        INSERT INTO meta VALUES ('format', 1), ('site', 'site-a'), ('last_seq', 4);
    """)
    db.executemany("INSERT INTO outbox VALUES (?, ?)", [(3, frames[0]), (4, frames[1])])
    db.commit()
    db.close()
    with Spool(path, site="site-a") as spool:
        assert (spool.depth, spool.last_seq, spool.size_bytes) == (2, 4, sum(map(len, frames)))
        assert spool.pending() == [(3, frames[0]), (4, frames[1])]
        assert [s for s, _ in spool.append([_agg(1)])] == [5]
        assert spool.ack([(3, 3)]) == 1
    with Spool(path, site="site-a") as spool:
        assert [s for s, _ in spool.pending()] == [4, 5]


def test_rows_of_big_frames_stay_within_the_wire_limit(tmp_path: Path) -> None:
    from edge.messages import MAX_MESSAGE_BYTES  # noqa: PLC0415

    big = Aggregate(start=0.0, duration_s=1.0,
                    lines=[LineCount(line="l1", direction="in", counts={f"c{i}": i for i in range(30_000)})])
    with Spool(tmp_path / "s.sqlite", site="site-a") as spool:
        frames = spool.append([big] * 5 + [_agg(1)])
        rows = spool.pending_rows(limit=100)
    assert len(frames[0][1]) > MAX_MESSAGE_BYTES // 3
    assert all(len(f) <= MAX_MESSAGE_BYTES for _, _, f in rows)
    assert len(rows) > 1
    assert b"\n".join(f for _, _, f in rows) == b"\n".join(f for _, f in frames)
