"""The store contract on both backends: idempotent ingest, live state, plans, audit, tokens."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest

from central.errors import PlanStateError, StoreConflictError, StoreError
from central.store import Store, open_store
from edge.messages import encode
from edge.wirefast import decode_fast
from tests.central.conftest import empty_pg
from tests.central.factories import T0, ack, aggregate, events, health, signal


def test_ingest_counts_new_and_ignores_duplicates(store: Store) -> None:
    batch = [aggregate("s1", i, T0 + 60 * i) for i in range(5)]
    assert store.ingest(batch) == 5
    # A resend overlapping the first batch stores only the new messages.
    again = [aggregate("s1", i, T0 + 60 * i) for i in range(3, 8)]
    assert store.ingest(again) == 3
    assert store.ingest(again) == 0
    rows = store.messages("s1", "aggregate", T0, T0 + 3600, limit=100)
    assert [m.seq for m in rows] == list(range(8))
    (summary,) = store.sites()
    assert (summary.site, summary.last_seq, summary.messages) == ("s1", 7, 8)


def test_ingest_splits_counts_per_site_in_one_batch(store: Store) -> None:
    assert store.ingest([aggregate("a", 1, T0), aggregate("b", 1, T0), aggregate("a", 2, T0 + 60)]) == 3
    assert store.ingest([aggregate("a", 2, T0 + 60), aggregate("b", 2, T0 + 60)]) == 1
    assert {s.site: s.messages for s in store.sites()} == {"a": 2, "b": 2}


def test_ingest_stores_given_frames_verbatim(store: Store) -> None:
    envs = [aggregate("s1", 1, T0), health("s1", 2, T0 + 5)]
    frames = [encode(e) for e in envs]
    assert store.ingest(envs, frames) == 2
    (msg,) = store.messages("s1", "health", 0, T0 + 10, limit=10)
    assert msg.body_json == frames[1].decode()
    with pytest.raises(ValueError, match="frames for"):
        store.ingest(envs, frames[:1])


def test_frames_with_escapes_tabs_and_unicode_are_stored_verbatim(store: Store) -> None:
    env = aggregate("s1", 1, T0)
    plain = encode(env)
    # Valid JSON frames with what COPY's text format must escape: backslashes (JSON escapes), and
    # tab, CR and a JSON-escaped newline as the frame's own bytes, beside non-ASCII text.
    odd = [
        plain.replace(b'"v":1,', b'"v":1,\t\r ', 1),
        plain.replace(b'"lines":[', b'"lines":[{"line":"a\\\\b \\n \\t \\u0000 \xc3\xa9","direction":"in","counts":{}},', 1),
    ]
    envs = [decode_fast(f) for f in odd]
    assert store.ingest(envs, odd) == 1  # one (site, seq) twice: the second is a duplicate
    (msg,) = store.messages("s1", "aggregate", T0, T0 + 1, limit=10)
    assert msg.body_json == odd[0].decode()
    assert store.ingest([aggregate("s1", 2, T0 + 60)], [odd[1].replace(b'"seq":1,', b'"seq":2,')]) == 1
    (_, second) = store.messages("s1", "aggregate", T0, T0 + 3600, limit=10)
    assert second.body_json == odd[1].replace(b'"seq":1,', b'"seq":2,').decode()


def test_messages_filters_by_kind_and_half_open_range(store: Store) -> None:
    store.ingest([aggregate("s1", i, T0 + 60 * i) for i in range(10)] + [health("s1", 100, T0 + 30)])
    got = store.messages("s1", "aggregate", T0 + 120, T0 + 300, limit=100)
    assert [m.ts for m in got] == [T0 + 120, T0 + 180, T0 + 240]
    assert len(store.messages("s1", "aggregate", T0, T0 + 6000, limit=4)) == 4
    ev = events("s1", 200, [(T0 + 1.5, 1, 2), (T0 + 2.0, 82, 5)])
    store.ingest([ev])
    (stored,) = store.messages("s1", "events", T0, T0 + 10, limit=10)
    assert stored.ts == T0 + 1.5


def test_site_state_keeps_newest_by_edge_time(store: Store) -> None:
    assert store.site_state("nowhere") is None
    store.ingest([health("s1", 5, T0 + 50, phase=[4]), aggregate("s1", 6, T0 + 60, cars=7)])
    # A late resend of older messages must not replace the fresher live picture.
    store.ingest([health("s1", 1, T0 + 10, phase=[2]), aggregate("s1", 2, T0, cars=99)])
    state = store.site_state("s1")
    assert state is not None
    assert state.health is not None
    assert state.health.phase == [4]
    assert state.health_at == T0 + 50
    assert state.aggregate is not None
    assert state.aggregate.lines[0].counts["car"] == 7
    assert state.summary.last_seq == 6
    assert state.summary.messages == 4


def test_plan_life_cycle_with_acks_and_rollback(store: Store) -> None:
    sig = signal().model_dump_json()
    p1 = store.propose_plan("s1", sig, "alice", "first")
    assert (p1.version, p1.status) == (1, "proposed")
    assert store.queue_plan("s1", 1, "alice").status == "pending"
    assert [p.version for p in store.pending_pushes()] == [1]
    assert store.pending_pushes()[0].push().signal == signal()
    with pytest.raises(PlanStateError, match="pending"):
        store.queue_plan("s1", 1, "alice")
    store.ingest([ack("s1", 1, version=1, applied=True)])
    assert store.pending_pushes() == []
    assert store.plan("s1", 1).status == "applied"  # type: ignore[union-attr]
    with pytest.raises(PlanStateError, match="no earlier applied plan"):
        store.rollback_plan("s1", "bob")

    store.propose_plan("s1", signal(max_green=60).model_dump_json(), "bob", "longer")
    store.queue_plan("s1", 2, "bob")
    store.ingest([ack("s1", 2, version=2, applied=True)])
    assert {p.version: p.status for p in store.plans("s1")} == {1: "superseded", 2: "applied"}

    back = store.rollback_plan("s1", "carol")
    assert (back.version, back.status, back.note) == (3, "pending", "rollback to v1")
    assert back.push().signal == signal()
    store.ingest([ack("s1", 3, version=3, applied=False, reasons=["phase 2: detector failed"])])
    refused = store.plan("s1", 3)
    assert refused is not None
    assert refused.status == "refused"
    assert refused.reasons == ("phase 2: detector failed",)
    assert store.plan("s1", 2).status == "applied"  # type: ignore[union-attr]

    actions = [(e.actor, e.action) for e in store.audit_log("s1", limit=100)]
    assert actions == [
        ("edge:s1", "plan.refused"), ("carol", "plan.rollback"),
        ("edge:s1", "plan.applied"), ("bob", "plan.queued"), ("bob", "plan.proposed"),
        ("edge:s1", "plan.applied"), ("alice", "plan.queued"), ("alice", "plan.proposed"),
    ]
    newest = store.audit_log("s1", limit=1)[0]
    assert [e.id for e in store.audit_log("s1", limit=2, before_id=newest.id)] == [newest.id - 1, newest.id - 2]


def test_queue_supersedes_other_pending(store: Store) -> None:
    sig = signal().model_dump_json()
    for _ in range(2):
        store.propose_plan("s1", sig, "alice", "")
    store.queue_plan("s1", 1, "alice")
    store.queue_plan("s1", 2, "alice")
    assert {p.version: p.status for p in store.plans("s1")} == {1: "superseded", 2: "pending"}
    with pytest.raises(PlanStateError, match="no plan version 9"):
        store.queue_plan("s1", 9, "alice")


def test_repeated_ack_is_harmless(store: Store) -> None:
    store.propose_plan("s1", signal().model_dump_json(), "alice", "")
    store.queue_plan("s1", 1, "alice")
    store.ingest([ack("s1", 1, 1, applied=True)])
    store.ingest([ack("s1", 2, 1, applied=True), ack("s1", 3, 77, applied=True)])
    assert [e.action for e in store.audit_log("s1", 10)].count("plan.applied") == 1


def test_tokens_hash_only_and_revocation(store: Store) -> None:
    rec = store.add_token("ops", "engineer", "ab" * 32)
    assert store.token_by_hash("ab" * 32) == rec
    with pytest.raises(StoreConflictError, match="ops"):
        store.add_token("ops", "viewer", "cd" * 32)
    assert store.revoke_token("ops") is True
    assert store.revoke_token("ops") is False
    assert store.token_by_hash("ab" * 32) is None
    # The name is free again once its token is revoked.
    store.add_token("ops", "viewer", "cd" * 32)
    assert [(t.name, t.revoked_at is None) for t in store.tokens()] == [("ops", False), ("ops", True)]


def test_audit_detail_round_trips(store: Store) -> None:
    store.audit("admin", "site.note", "s1", {"text": "camera moved", "n": 2})
    (entry,) = store.audit_log(None, 10)
    assert (entry.actor, entry.action, entry.site, entry.detail) == ("admin", "site.note", "s1", {"text": "camera moved", "n": 2})


def test_concurrent_writers_store_each_message_once(store_url: str) -> None:
    """Two stores (as two ingest workers would be) racing over overlapping resends."""
    stores = [open_store(store_url), open_store(store_url)]
    totals: list[int] = []

    def work(s: Store, offset: int) -> None:
        n = 0
        for start in range(0, 400, 50):
            n += s.ingest([aggregate("s1", i, T0 + i) for i in range(start + offset, start + offset + 60)])
        totals.append(n)

    threads = [threading.Thread(target=work, args=(s, k * 5)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    check = open_store(store_url)
    try:
        seqs = [m.seq for m in check.messages("s1", "aggregate", 0, T0 + 10_000, limit=10_000)]
        assert seqs == list(range(415))
        assert sum(totals) == 415
        assert check.sites()[0].messages == 415
    finally:
        check.close()


def test_sqlite_data_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    s = open_store(url)
    s.ingest([aggregate("s1", 1, T0)])
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.sites()
    s2 = open_store(url)
    assert json.loads(s2.messages("s1", "aggregate", 0, T0 + 1, 1)[0].body_json)["seq"] == 1
    s2.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unknown store URL"),
        ("sqlite://", "bad SQLite URL"),
        ("sqlite:////nonexistent/dir/c.db", "directory does not exist"),
        ("postgresql://postgres@127.0.0.1:1/none", "cannot connect"),
    ],
)
def test_open_store_errors_are_one_line(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        open_store(url)
    assert "\n" not in str(info.value)


def test_postgres_recovers_after_connection_is_killed(pg_url: str) -> None:
    """A connection the server dropped fails one call with StoreError and is then replaced."""
    empty_pg(pg_url)
    s = open_store(pg_url)
    try:
        s.ingest([aggregate("s1", 1, T0)])
        others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) {others}")
            # Termination is asynchronous: wait until the backend has really gone.
            deadline = time.monotonic() + 10
            while admin.execute(f"SELECT count(*) {others}").fetchone() != (0,):
                assert time.monotonic() < deadline, "backend did not terminate"
                time.sleep(0.05)
        with pytest.raises(StoreError, match="cannot"):
            s.ingest([aggregate("s1", 2, T0 + 60)])
        assert s.ingest([aggregate("s1", 2, T0 + 60)]) == 1
        assert s.sites()[0].messages == 2
    finally:
        s.close()
