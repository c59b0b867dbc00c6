"""The time index (``message_spans``): time queries equal a brute-force filter, and old files upgrade."""

from __future__ import annotations

import itertools
import sqlite3

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.store import Store, open_store
from central.store.spans import BUCKET_S, OLD_INDEX, bucket_of
from edge.messages import Envelope
from tests.central.factories import T0, aggregate, health

_sites = itertools.count()

# Times near T0, spread over a few hours, with values on and just beside hour boundaries.
_times = st.one_of(
    st.floats(T0 - 2 * BUCKET_S, T0 + 5 * BUCKET_S, allow_nan=False),
    st.integers(-2, 5).map(lambda h: T0 + h * BUCKET_S),
    st.integers(-2, 5).map(lambda h: float.__sub__(T0 + h * BUCKET_S, 1e-6)),
)


@st.composite
def _history(draw: st.DrawFn) -> tuple[list[tuple[int, str, float]], list[list[int]]]:
    """Messages ``(seq, kind, ts)`` in seq order (times out of order), and the batches they arrive in."""
    n = draw(st.integers(1, 60))
    seqs = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    msgs = [(seq, draw(st.sampled_from(["aggregate", "health"])), draw(_times)) for seq in seqs]
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=5)))
    batches = [list(order[a:b]) for a, b in itertools.pairwise([0, *cuts, n]) if a < b]
    # A resend: some earlier batch arrives again.
    if draw(st.booleans()):
        batches.append(draw(st.sampled_from(batches)))
    return msgs, batches


def _envelope(site: str, seq: int, kind: str, ts: float) -> Envelope:
    return aggregate(site, seq, ts) if kind == "aggregate" else health(site, seq, ts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=_history(), start=_times, length=st.floats(0.0, 8 * BUCKET_S), limit=st.integers(1, 80),
       kind=st.sampled_from(["aggregate", "health"]))
def test_time_query_equals_brute_force(  # noqa: PLR0917 - hypothesis passes draws by name
    store: Store, history: tuple[list[tuple[int, str, float]], list[list[int]]],
    start: float, length: float, limit: int, kind: str,
) -> None:
    msgs, batches = history
    site = f"spans-{next(_sites)}"
    for batch in batches:
        store.ingest([_envelope(site, *msgs[i]) for i in batch])
    end = start + length
    want = sorted((ts, seq) for seq, k, ts in msgs if k == kind and start <= ts < end)[:limit]
    got = [(m.ts, m.seq) for m in store.messages(site, kind, start, end, limit)]  # type: ignore[arg-type]
    assert got == want


def test_bucket_is_floor_of_the_hour() -> None:
    assert [bucket_of(x) for x in (0.0, 3599.999, 3600.0, -1e-9, -3600.0, -3600.5)] == [0, 0, 1, -1, -1, -2]
    assert bucket_of(1e300) == bucket_of(1e200) > 0  # clamped, still binds as a 64-bit integer


def _raw(url: str, *sql: str) -> list[tuple[object, ...]]:
    """Run statements on the store's database directly; rows of the last."""
    rows: list[tuple[object, ...]] = []
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            for stmt in sql:
                rows = db.execute(stmt).fetchall()
        return rows
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in sql:
            cur = conn.execute(stmt)
            rows = list(cur.fetchall()) if cur.description else []
    return rows


def test_a_store_written_with_the_old_index_is_upgraded(store_url: str) -> None:
    first = open_store(store_url)
    first.ingest([aggregate("s1", i, T0 + 900 * i) for i in range(10)] + [health("s1", 50, T0 + 30)])
    first.close()
    # Make the database look like one written before the spans existed.
    _raw(store_url, "DELETE FROM message_spans", f"CREATE INDEX {OLD_INDEX} ON messages (site, kind, ts)")
    store = open_store(store_url)
    try:
        got = store.messages("s1", "aggregate", T0 + 1800, T0 + 6300, limit=100)
        assert [m.seq for m in got] == [2, 3, 4, 5, 6]
        assert [m.seq for m in store.messages("s1", "health", T0, T0 + 60, limit=5)] == [50]
    finally:
        store.close()
    assert len(_raw(store_url, "SELECT * FROM message_spans")) == 4  # aggregate hours 0-2, health hour 0
    if store_url.startswith("sqlite:///"):
        assert _raw(store_url, f"SELECT count(*) FROM sqlite_master WHERE name = '{OLD_INDEX}'") == [(0,)]
        assert _raw(store_url, "PRAGMA user_version") == [(2,)]
    else:
        assert _raw(store_url, f"SELECT to_regclass('{OLD_INDEX}') IS NULL") == [(True,)]


@pytest.mark.parametrize("limit", [1, 3])
def test_a_full_hour_stops_the_scan(sqlite_store: Store, limit: int) -> None:
    sqlite_store.ingest([aggregate("s1", i, T0 + 600 * i) for i in range(30)])
    got = sqlite_store.messages("s1", "aggregate", T0, T0 + 30 * 600, limit=limit)
    assert [m.seq for m in got] == list(range(limit))
